package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// hostileSize is just under the size limit, or 512 KiB where the race
// detector makes everything ten times slower.
func hostileSize() int {
	if raceEnabled {
		return 512 << 10
	}
	return DefaultMaxSize - 64
}

// hostileConfig builds a config of about hostileSize bytes out of one
// repeated fragment.
func hostileConfig(prefix, suffix string, item func(i int) string) []byte {
	var b strings.Builder
	b.WriteString(prefix)
	for i := 0; b.Len() < hostileSize()-len(suffix); i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(item(i))
	}
	b.WriteString(suffix)
	return []byte(b.String())
}

// TestHostileShapes loads 4 MiB configs of many small entries: each must
// load in about linear time (a quadratic merge would take hours) and never
// fail.
func TestHostileShapes(t *testing.T) {
	shapes := map[string][]byte{
		"distinct packs":   hostileConfig(`{"packs":{`, `}}`, func(i int) string { return fmt.Sprintf(`"p%d":{}`, i) }),
		"repeated pack":    hostileConfig(`{"packs":{"first":{},`, `}}`, func(i int) string { return fmt.Sprintf(`"p%d":{},"first":{}`, i%1000) }),
		"options":          hostileConfig(`{"options":{`, `}}`, func(i int) string { return fmt.Sprintf(`"o%d":%d`, i, i) }),
		"repeated options": hostileConfig(`{"options":{`, `}}`, func(i int) string { return fmt.Sprintf(`"o%d":1,"o0":2`, i) }),
		"queries":          hostileConfig(`{"schedule":{`, `}}`, func(i int) string { return fmt.Sprintf(`"q%d":{"query":"select %d","interval":60}`, i, i) }),
		"duplicate query":  hostileConfig(`{"schedule":{`, `}}`, func(int) string { return `"q":{"query":"select 1"}` }),
		"query members":    hostileConfig(`{"schedule":{"q":{"query":"select 1",`, `}}}`, func(i int) string { return fmt.Sprintf(`"k%d":1`, i) }),
		"decorators":       hostileConfig(`{"decorators":{"interval":{`, `}}}`, func(i int) string { return fmt.Sprintf(`"%d":["select 1"]`, i*60) }),
		"views":            hostileConfig(`{"views":{`, `}}`, func(i int) string { return fmt.Sprintf(`"v%d":"select 1"`, i%5000) }),
		"unknown keys":     hostileConfig(`{`, `}`, func(i int) string { return fmt.Sprintf(`"k%d":0`, i) }),
		"string packs":     hostileConfig(`{"packs":{`, `}}`, func(i int) string { return fmt.Sprintf(`"p%d":"/nonexistent/%d"`, i, i) }),
		"wide array":       hostileConfig(`{"file_paths":{"a":[`, `]}}`, func(int) string { return `[]` }),
	}
	for name, data := range shapes {
		start := time.Now()
		o := testOptions(nil)
		o.SetOption = func(string, string) error { return nil }
		o.GenPack = func(string, string) ([]byte, error) { return []byte(`{"queries":{}}`), nil }
		_, _, err := Parse(map[string][]byte{"a": data}, o)
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("%s took %v", name, d)
		} else {
			t.Logf("%s: %d bytes in %v", name, len(data), d)
		}
	}
}
