import RerankCore
import Testing

@Suite struct HexTests {
    @Test func wordsAreSixteenDigitsAndBytesTwoEachZeroPadded() {
        #expect(Hex.word(0) == "0000000000000000")
        #expect(Hex.word(0xab) == "00000000000000ab")
        #expect(Hex.word(.max) == "ffffffffffffffff")
        #expect(Hex.bytes([0x00, 0x0f, 0xa0, 0xff]) == "000fa0ff")
        #expect(Hex.bytes([]) == "")
    }
}
