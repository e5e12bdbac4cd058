/// The console's static files: the hand-written files in `Console/assets/`, embedded by SwiftPM
/// (`.embedInCode` in Package.swift) as `PackageResources` byte arrays.
enum ConsoleAssets {
    static let files: [(name: String, contentType: String, bytes: [UInt8])] = [
        ("index.html", "text/html; charset=utf-8", PackageResources.index_html),
        ("console.css", "text/css; charset=utf-8", PackageResources.console_css),
        ("console.js", "text/javascript; charset=utf-8", PackageResources.console_js),
    ]
}
