import Migration
import Testing

@Suite struct ClassifierTests {
    let nightly = Classifier(mode: .nightly)

    @Test func nightlyClassesByWatermark() {
        #expect(nightly.classify(imei: "1", time: 99, isProduct: true, watermark: 100) == .stale)
        // Exactly at W(p): a candidate, another field of that instant may come later.
        #expect(nightly.classify(imei: "1", time: 100, isProduct: true, watermark: 100) == .candidate)
        #expect(nightly.classify(imei: "1", time: 101, isProduct: true, watermark: 100) == .candidate)
        #expect(nightly.classify(imei: "1", time: .min, isProduct: true, watermark: nil) == .candidate)
        #expect(nightly.classify(imei: "1", time: 101, isProduct: false, watermark: nil) == .unknownProduct)
    }

    @Test func backfillTakesItsWindowWhateverTheWatermark() {
        let backfill = Classifier(mode: .backfill(BackfillSelection(imeis: ["1"], since: 10, until: 20)))
        #expect(backfill.classify(imei: "1", time: 10, isProduct: true, watermark: nil) == .filtered)  // since is exclusive
        #expect(backfill.classify(imei: "1", time: 11, isProduct: true, watermark: 1000) == .candidate)
        #expect(backfill.classify(imei: "1", time: 20, isProduct: true, watermark: 1000) == .candidate)  // until is inclusive
        #expect(backfill.classify(imei: "1", time: 21, isProduct: true, watermark: nil) == .filtered)
        #expect(backfill.classify(imei: "2", time: 15, isProduct: true, watermark: nil) == .filtered)
    }

    @Test func watermarksOnlyAdvance() {
        #expect(Watermark.advanced(nil, to: 5) == 5)
        #expect(Watermark.advanced(7, to: 5) == 7)
        #expect(Watermark.advanced(7, to: 9) == 9)
    }
}
