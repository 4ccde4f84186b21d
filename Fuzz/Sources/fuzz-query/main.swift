import FuzzDriver
import SmartSolarAPI

/// libFuzzer target: the API's `q` parser. Any input must give a query or a `BadRequest`,
/// for every resource; crashes and hangs are the sanitizer's to find.
@_cdecl("LLVMFuzzerTestOneInput")
func test(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    for resource in Resource.all.values { _ = try? SearchQuery(json: text, for: resource) }
    return 0
}

runFuzzer(test)
