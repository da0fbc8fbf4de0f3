// The osquery extension wire contract (osquery/extensions/thrift/osquery.thrift),
// restated for gosquery: service and method names, field ids and types are
// what travels on the socket, so they must match osquery's exactly.
//
// Regenerate the Go code with `go generate ./internal/extensions` (see
// gen/README.md for the exact command).

namespace cpp osquery.extensions
namespace py osquery.extensions
namespace rb osquery.extensions
namespace go osquery

/// Request to an extension plugin (key/value pairs).
typedef map<string, string> ExtensionPluginRequest
/// A plugin's response: a list of rows.
typedef list<map<string, string>> ExtensionPluginResponse

/// One flag as options() reports it.
struct InternalOptionInfo {
  1:string value,
  2:string default_value,
  3:string type,
}

/// Flag name to its state.
typedef map<string, InternalOptionInfo> InternalOptionList

/// An extension as it registers itself.
struct InternalExtensionInfo {
  1:string name,
  2:string version,
  3:string sdk_version,
  4:string min_sdk_version,
}

/// The uuid the core assigns an extension; 0 is the core.
typedef i64 ExtensionRouteUUID
/// Plugin name to its route info.
typedef map<string, ExtensionPluginResponse> ExtensionRouteTable
/// Registry name to the routes an extension broadcasts into it.
typedef map<string, ExtensionRouteTable> ExtensionRegistry
/// Registered extensions by uuid.
typedef map<ExtensionRouteUUID, InternalExtensionInfo> InternalExtensionList

enum ExtensionCode {
  EXT_SUCCESS = 0,
  EXT_FAILED = 1,
  EXT_FATAL = 2,
}

/// Status of a call.
struct ExtensionStatus {
  1:i32 code,
  2:string message,
  3:ExtensionRouteUUID uuid,
}

/// A call's status and, on success, its rows.
struct ExtensionResponse {
  1:ExtensionStatus status,
  2:ExtensionPluginResponse response,
}

/// Declared by osquery and never thrown.
exception ExtensionException {
  1:i32 code,
  2:string message,
  3:ExtensionRouteUUID uuid
}

/// What every extension (and the core) serves.
service Extension {
  /// Liveness check.
  ExtensionStatus ping(),
  /// Dispatch a request to a plugin of a registry.
  ExtensionResponse call(
    1:string registry,
    2:string item,
    3:ExtensionPluginRequest request),
  /// Ask the extension to stop.
  void shutdown(),
}

/// What the core serves on --extensions_socket.
service ExtensionManager extends Extension {
  /// Registered extensions (the core itself is not listed).
  InternalExtensionList extensions(),
  /// Every flag with its value, default and type.
  InternalOptionList options(),
  /// Register an extension and the plugins it broadcasts.
  ExtensionStatus registerExtension(
    1:InternalExtensionInfo info,
    2:ExtensionRegistry registry),
  /// Remove an extension and its plugins.
  ExtensionStatus deregisterExtension(
    1:ExtensionRouteUUID uuid,
  ),
  /// Run SQL in the core; all values come back as text.
  ExtensionResponse query(1:string sql),
  /// A statement's result columns, in order, as {name: type}.
  ExtensionResponse getQueryColumns(1:string sql),
}
