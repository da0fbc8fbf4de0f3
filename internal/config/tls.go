package config

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/gosquery/gosquery/internal/flags"
	"github.com/gosquery/gosquery/internal/remote"
	"github.com/gosquery/gosquery/internal/store"
)

// TLSSource is the name of the single source the tls plugin produces.
const TLSSource = "tls_plugin"

// backupKey is where the last config that parsed is kept, in the
// configurations domain (osquery's "config_backup" prefix). osquery keeps
// it only with --config_enable_backup; the tls plugin always does, so a
// daemon restarted while its server is unreachable runs its last schedule
// instead of none.
const backupKey = "config_backup." + TLSSource

// TLS is osquery's tls config plugin: the whole answer of POST
// --config_tls_endpoint (with the node key) is the config. It needs the
// daemon's remote client, so the registered constructor only explains how
// to get one; the daemon builds it with NewTLS.
type TLS struct {
	client *remote.Client

	mu      sync.Mutex
	fetched []byte // the last config the server sent, for Backup
}

// NewTLS returns the tls config plugin on client.
func NewTLS(client *remote.Client) *TLS { return &TLS{client: client} }

// Name implements Plugin.
func (*TLS) Name() string { return "tls" }

// Gen fetches the config, retrying --config_tls_max_attempts times with
// i² s waits. When the server cannot be reached the last config that
// parsed is used, with a warning.
func (p *TLS) Gen(ctx context.Context) (map[string][]byte, error) {
	fl := p.client.Flags()
	var body []byte
	err := p.client.Retry(ctx, fl.Int("config_tls_max_attempts"), func() error {
		var err error
		body, err = p.client.PostRaw(ctx, remote.Request{Path: fl.Get("config_tls_endpoint")})
		return err
	})
	st := p.client.Store()
	if err != nil {
		if st != nil {
			if b, ok, berr := st.Get(ctx, store.DomainConfigurations, backupKey); berr == nil && ok {
				p.client.Log().Warn("Config request failed (" + err.Error() + "); using the backup config")
				return map[string][]byte{TLSSource: b}, nil
			}
		}
		return nil, fmt.Errorf("Config retrieval failed: %w", err)
	}
	if len(body) == 0 {
		body = []byte("{}")
	}
	p.mu.Lock()
	p.fetched = body
	p.mu.Unlock()
	return map[string][]byte{TLSSource: body}, nil
}

// Backup keeps the config last fetched from the server, once the caller
// found that it parses, for the next start without a server.
func (p *TLS) Backup(ctx context.Context) error {
	st := p.client.Store()
	p.mu.Lock()
	b := p.fetched
	p.mu.Unlock()
	if st == nil || b == nil {
		return nil
	}
	return st.Put(ctx, store.DomainConfigurations, backupKey, b)
}

// GenPack implements Plugin: string packs are not resolved over TLS, as in
// osquery, whose tls plugin serves no packs.
func (*TLS) GenPack(_ context.Context, name, _ string) ([]byte, error) {
	return nil, fmt.Errorf("the tls config plugin cannot resolve pack %s", name)
}

var errTLSNeedsDaemon = errors.New("the tls config plugin needs the daemon's TLS client (--tls_hostname, --config_tls_endpoint)")

func init() {
	RegisterPlugin("tls", func(*flags.Set) (Plugin, error) { return nil, errTLSNeedsDaemon })
}
