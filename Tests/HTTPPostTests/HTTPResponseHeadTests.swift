import HTTPPost
import Testing

@Suite struct HTTPResponseHeadTests {
    @Test func parsesStatusAndHeadersOnceTheHeadIsComplete() throws {
        let text = "HTTP/1.1 503 Service Unavailable\r\nretry-after:  120 \r\nContent-Length: 0\r\n\r\n"
        #expect(try HTTPResponseHead.parse(Array(text.utf8.dropLast(2))) == nil)
        let head = try #require(try HTTPResponseHead.parse(Array(text.utf8)))
        #expect(head.status == 503)
        #expect(head.value(for: "Retry-After") == "120")
        #expect(head.value(for: "x-missing") == nil)
    }

    @Test func skipsInterimResponses() throws {
        let text = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"
        #expect(try HTTPResponseHead.parse(Array(text.utf8))?.status == 204)
        #expect(try HTTPResponseHead.parse(Array("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 2".utf8)) == nil)
    }

    @Test func refusesWhatIsNotHTTP() {
        #expect(throws: HTTPPostError.self) { try HTTPResponseHead.parse(Array("SSH-2.0-OpenSSH_9.2\r\n\r\n".utf8)) }
        #expect(throws: HTTPPostError.self) { try HTTPResponseHead.parse(Array("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n".utf8)) }
    }
}
