import RerankCore
import Testing

@Suite struct RawJSONMembersTests {
    @Test func aMemberIsReadWithItsExactBytes() {
        let body = Array(#"{"id":"x", "results" : [ {"index":0,"relevance_score":0.1000000000000000055511151231257827}, {"document":{"id":12345678901234567891}} ] ,"n":1}"#.utf8)
        let results = RawJSON.member("results", in: body)?.arrayElements
        #expect(results?.map(\.description) == [
            #"{"index":0,"relevance_score":0.1000000000000000055511151231257827}"#, #"{"document":{"id":12345678901234567891}}"#,
        ])
        #expect(RawJSON.member("id", in: body)?.description == #""x""#)
        #expect(RawJSON.member("missing", in: body) == nil)
        #expect(RawJSON.member("id", in: Array(#"{"id":"x""#.utf8)) == nil)
        #expect(RawJSON.member("results", in: Array(#"{"results":[]}"#.utf8))?.arrayElements == [])
        #expect(RawJSON.member("id", in: body)?.arrayElements == nil)
    }
}
