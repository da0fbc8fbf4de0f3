module github.com/gosquery/gosquery

go 1.26.8

require (
	github.com/apache/thrift v0.17.0
	github.com/chzyer/readline v1.5.1
	github.com/klauspost/compress v1.20.4
	github.com/ncruces/go-sqlite3 v0.37.0
	golang.org/x/sys v0.49.0
)

require (
	github.com/ncruces/go-sqlite3-wasm/v6 v6.5.35401 // indirect
	github.com/ncruces/julianday v1.0.0 // indirect
)
