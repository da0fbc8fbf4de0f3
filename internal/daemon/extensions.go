package daemon

import (
	"log/slog"
	"os"
	"strings"
	"syscall"

	"github.com/gosquery/gosquery/internal/extensions"
	"github.com/gosquery/gosquery/internal/flags"
	"github.com/gosquery/gosquery/internal/table"
	"github.com/gosquery/gosquery/internal/version"
)

// startExtensions starts the extension manager unless
// --disable_extensions. A manager that cannot start only disables
// extensions, as in osquery, unless --extensions_require names one: then
// the daemon cannot do what it was asked and exits. It also waits (up to
// --extensions_timeout) for a --config_plugin or --logger_plugin that an
// extension provides.
func startExtensions(fl *flags.Set, env *table.Env, log *slog.Logger) (*extensions.Manager, int) {
	if fl.Bool("disable_extensions") {
		return nil, exitOK
	}
	mgr, err := extensions.Start(extensions.Options{
		Flags: fl, Env: env, Log: log, Version: version.Osquery,
		// shutdown() on the core stops the daemon through its normal path.
		OnShutdown: func() { syscall.Kill(os.Getpid(), syscall.SIGTERM) },
	})
	if err != nil {
		if fl.Get("extensions_require") != "" {
			log.Error("An error occurred during extension manager startup: " + err.Error())
			return nil, exitCatastrophic
		}
		log.Warn("Extensions disabled: " + err.Error())
		return nil, exitOK
	}
	mgr.WaitForPlugin("config", fl.Get("config_plugin"))
	for _, name := range strings.Split(fl.Get("logger_plugin"), ",") {
		if name = strings.TrimSpace(name); name != "" {
			mgr.WaitForPlugin("logger", name)
		}
	}
	return mgr, exitOK
}
