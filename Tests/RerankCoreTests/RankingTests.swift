import Testing

@testable import RerankCore

@Suite struct RankingTests {
    @Test func sortsDescendingWithTiesInInputOrder() {
        #expect(Ranking.order(scores: [0.1, 0.9, 0.5, 0.9], topN: nil) == [1, 3, 2, 0])
    }

    @Test(arguments: [(1, [1]), (2, [1, 3]), (4, [1, 3, 2, 0]), (10, [1, 3, 2, 0])])
    func cutsToTopN(topN: Int, expected: [Int]) {
        #expect(Ranking.order(scores: [0.1, 0.9, 0.5, 0.9], topN: topN) == expected)
    }

    @Test func negativeScoresSortBelowPositive() {
        #expect(Ranking.order(scores: [-3.5, 2.0, -0.25], topN: nil) == [1, 2, 0])
    }

    @Test func emptyInput() {
        #expect(Ranking.order(scores: [], topN: 3).isEmpty)
    }
}
