package compute

// The machines/console subresource and the machinepoollet's console endpoint it proxies to
// share these names. An interactive session is the Kubernetes streaming protocol
// v5.channel.k8s.io over WebSocket (as pods/attach), with the query parameters stdin, stdout
// and tty; a plain GET with logs=true returns the console's scrollback.
const (
	// MachineConsoleLogsParam set to "true" asks for the scrollback instead of a session.
	MachineConsoleLogsParam = "logs"
	// MachineConsoleTailBytesParam limits the scrollback to its last N bytes. In logs mode 0
	// (the default) means everything the runtime retains; a session starts with
	// MachineConsoleDefaultTailBytes unless it is given.
	MachineConsoleTailBytesParam = "tailBytes"
	// MachineConsoleUIDParam is the UID of the Machine the apiserver resolved; the poollet
	// refuses a request for a Machine of the same name with another UID.
	MachineConsoleUIDParam = "uid"
	// MachineConsolePathPrefix is the path of a poollet's console endpoint, followed by
	// NAMESPACE/NAME.
	MachineConsolePathPrefix = "/console/"
	// MachineConsoleDefaultTailBytes is how much earlier output a session starts with.
	MachineConsoleDefaultTailBytes = 8 << 10
)
