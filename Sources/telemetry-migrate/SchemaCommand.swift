import ArgumentParser

struct SchemaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema", abstract: "Manage the database schema.", subcommands: [Apply.self])

    struct Apply: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create or upgrade the schema (idempotent).")
        func run() throws {
            throw ValidationError("not implemented yet")
        }
    }
}
