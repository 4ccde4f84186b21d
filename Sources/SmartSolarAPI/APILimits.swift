/// What one request may ask of the server (DESIGN.md, "The API's limits"); a request
/// beyond any of them is a 400 with a JSON message naming the limit.
enum APILimits {
    /// Bytes of `q` after URL decoding.
    static let maxQueryBytes = 8 * 1024
    /// Nesting of arrays and objects in `q` (the top-level object is level 1).
    static let maxQueryDepth = 32
    /// Items in the `val` list of one `in` / `not_in` filter.
    static let maxInItems = 1_000
    /// Characters in the pattern of one `like` / `ilike` filter.
    static let maxPatternLength = 200
}
