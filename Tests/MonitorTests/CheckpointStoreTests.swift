import MonitorConfig
import Testing
@testable import Monitor

@Suite struct CheckpointStoreTests {
    /// The names Foundation's `addingPercentEncoding` gave checkpoints on Linux, so that an
    /// upgraded daemon resumes its passes.
    @Test func fileNamesStayThoseEarlierVersionsWrote() {
        let store = CheckpointStore(stateDirectory: "/state")
        #expect(store.path(SecureTable(schema: "shop", table: "order_items-2")) == "/state/verification/shop.order_items-2.json")
        #expect(store.path(SecureTable(schema: "café", table: "My Table.x/y%")) == "/state/verification/caf%C3%A9.My%20Table%2Ex%2Fy%25.json")
    }
}
