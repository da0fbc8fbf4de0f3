package extension

import (
	"context"
	"testing"
)

func TestParseQueryContext(t *testing.T) {
	// As osquery 5 sends it.
	qc, err := parseQueryContext(`{"constraints":[{"name":"name","list":[{"op":2,"expr":"ada"},{"op":65,"expr":"g%"}],"affinity":"TEXT"},` +
		`{"name":"n","list":[],"affinity":"INTEGER"}],"colsUsed":["name"],"colsUsedBitset":1}`)
	if err != nil {
		t.Fatal(err)
	}
	if eq := qc.Equals("name"); len(eq) != 1 || eq[0] != "ada" {
		t.Fatalf("equals %v", eq)
	}
	if cl := qc.Constraints["name"]; cl.Affinity != Text || len(cl.Constraints) != 2 || cl.Constraints[1].Operator != Like {
		t.Fatalf("constraints %+v", cl)
	}
	if qc.Constraints["n"].Affinity != Integer || !qc.Used("name") || qc.Used("n") {
		t.Fatalf("context %+v", qc)
	}
	// Older cores: string operators, "" for an empty list, no colsUsed.
	qc, err = parseQueryContext(`{"constraints":[{"name":"a","list":[{"op":"2","expr":"x"}],"affinity":"TEXT"},{"name":"b","list":"","affinity":"TEXT"}]}`)
	if err != nil || len(qc.Equals("a")) != 1 || !qc.Used("b") {
		t.Fatalf("old format %+v %v", qc, err)
	}
	for _, bad := range []string{`{`, `{"constraints":[{"name":"a","list":[{"op":"x","expr":"1"}]}]}`, `{"constraints":[{"name":"a","list":[{"op":2,"expr":3}]}]}`} {
		if _, err := parseQueryContext(bad); err == nil {
			t.Errorf("%s parsed", bad)
		}
	}
}

func TestRegistrationChecks(t *testing.T) {
	if _, err := NewServer("", "x"); err == nil {
		t.Fatal("no socket accepted")
	}
	s, err := NewServer("/nonexistent/em", "x", WithTimeout(0))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RegisterTable(Table{Name: "t"}); err == nil {
		t.Fatal("table without columns accepted")
	}
	gen := func(context.Context, QueryContext) ([]map[string]string, error) { return nil, nil }
	if err := s.RegisterTable(Table{Name: "t", Columns: []Column{{Name: "a"}}, Generate: gen}); err != nil {
		t.Fatal(err)
	}
	routes := s.tables["t"].routes()
	if len(routes) != 1 || routes[0]["type"] != "TEXT" || routes[0]["op"] != "0" || routes[0]["id"] != "column" {
		t.Fatalf("routes %v", routes)
	}
	// Nothing listens: Run gives up after the timeout with osquery's message.
	if err := s.Run(); err == nil {
		t.Fatal("Run without a core succeeded")
	}
}

func FuzzParseQueryContext(f *testing.F) {
	f.Add(`{"constraints":[{"name":"a","list":[{"op":2,"expr":"x"}],"affinity":"TEXT"}],"colsUsed":["a"]}`)
	f.Add(`{"constraints":[{"name":"b","list":"","affinity":"TEXT"}]}`)
	f.Fuzz(func(t *testing.T, s string) {
		parseQueryContext(s)
	})
}
