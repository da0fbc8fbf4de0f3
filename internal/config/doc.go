// Package config reads osquery's configuration: config plugins (the
// filesystem plugin reads --config_path and <config_path>.d/*.conf),
// osquery's comment stripping and limits, and the config JSON itself —
// "options" (applied through a callback so the caller owns the flags),
// "schedule" and "packs" (inline, file and "*" glob packs with platform,
// version, shard and discovery), "decorators", "events", "views", and the
// keys osquery parses for features gosquery keeps but does not act on.
//
// Parsing follows osquery 5.x (osquery/config/config.cpp, packs.cpp and
// plugins/config/parsers/*) closely, down to its quirks, because configs
// are shared between osquery and gosquery: the same file must schedule the
// same queries under the same names and print the same warnings. Where
// osquery silently drops an entry, Parse adds a debug-level note so
// --verbose can explain it. Nothing here runs SQL: decorators, views and
// discovery queries are returned for the caller to run.
//
// Check and Dump implement --config_check and --config_dump as functions
// returning the text to print and the exit code.
package config
