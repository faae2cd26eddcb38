import Testing

@Test func placeholder_MonitorTests() {}
