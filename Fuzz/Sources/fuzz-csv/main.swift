import DumpReader
import FuzzDriver
import FuzzSupport

/// libFuzzer target: the CSV reader (inputs that do not start as `influx -format csv` get a
/// header put before them). Asserts that the outcome does not depend on the chunk size nor on
/// the threads that read it (an eighth of the inputs), and that reject line numbers count newlines
/// outside quoted cells.

nonisolated(unsafe) let input = InputFile(name: "csv")

@_cdecl("LLVMFuzzerTestOneInput")
func test(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    var bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if bytes.starts(with: [0x1F, 0x8B]) { return 0 }  // the gzip target's job
    if !bytes.starts(with: Array("name,".utf8)) {
        bytes = Array("name,time,product_imei,value\n".utf8) + bytes
    }
    let outcome = bytes.withUnsafeBytes { readAtSeveralChunkSizes($0) }
    if size % 8 == 0 { bytes.withUnsafeBytes { checkThreadedRead(input, $0) } }
    if outcome.format == .csv { checkLineNumbers(outcome, decompressed: bytes) }
    return 0
}

runFuzzer(test)
