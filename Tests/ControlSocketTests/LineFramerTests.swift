import Testing

@testable import ControlSocket

@Suite struct LineFramerTests {
    @Test func splitsLinesAcrossChunks() {
        var framer = LineFramer(maxLineLength: 100)
        framer.append(Array("ab".utf8))
        #expect(framer.next() == .needMoreData)
        framer.append(Array("c\nde\r\n\nf".utf8))
        #expect(framer.next() == .line(Array("abc".utf8)))
        #expect(framer.next() == .line(Array("de".utf8)))
        #expect(framer.next() == .line([]))
        #expect(framer.next() == .needMoreData)
        #expect(framer.hasPartialLine)
    }

    @Test func acceptsALineOfExactlyTheLimit() {
        var framer = LineFramer(maxLineLength: 4)
        framer.append(Array("abcd\n".utf8))
        #expect(framer.next() == .line(Array("abcd".utf8)))
        #expect(!framer.hasPartialLine)
    }

    @Test func refusesLongLinesBeforeTheirEnd() {
        var framer = LineFramer(maxLineLength: 4)
        framer.append(Array("abcde".utf8))
        #expect(framer.next() == .tooLong)
    }

    @Test func refusesLongLinesWithTheirEnd() {
        var framer = LineFramer(maxLineLength: 4)
        framer.append(Array("ok\nabcdef\n".utf8))
        #expect(framer.next() == .line(Array("ok".utf8)))
        #expect(framer.next() == .tooLong)
    }
}
