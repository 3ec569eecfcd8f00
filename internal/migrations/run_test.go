package migrations_test

import (
	"strings"
	"testing"

	"github.com/drover-dev/drover/internal/migrations"
)

func TestValidateIDs(t *testing.T) {
	cases := []struct {
		id    string
		valid bool
	}{
		{"payments-service", true},
		{"svc.v2", true},
		{"a_b_c", true},
		{"A1", true},
		{"a", true},
		{"", false},
		{"a__b", false},      // the run-id separator
		{"a_", false},        // would form a separator with the next id
		{"_a", false},        // likewise
		{"-a", false},        // must start with a letter or digit
		{"a:b", false},       // the store's key separator
		{"a/b", false},       // a path separator
		{"has space", false}, //
		{"é", false},
		{strings.Repeat("x", 64), true},
		{strings.Repeat("x", 65), false},
	}
	for _, tc := range cases {
		err := migrations.ValidateMigrationID("id", tc.id)
		if (err == nil) != tc.valid {
			t.Errorf("ValidateMigrationID(%q) = %v, want valid=%v", tc.id, err, tc.valid)
		}
	}
	if err := migrations.ValidateCandidateID("id", strings.Repeat("x", 128)); err != nil {
		t.Errorf("a 128-character candidate id is valid: %v", err)
	}
	if err := migrations.ValidateCandidateID("id", strings.Repeat("x", 129)); err == nil {
		t.Error("a 129-character candidate id is invalid")
	}
}

// FuzzRunIDRoundTrip: for any two valid ids, the run id parses back into exactly them, so no
// two runs can share a workflow id.
func FuzzRunIDRoundTrip(f *testing.F) {
	for _, seed := range [][2]string{{"m", "c"}, {"a_b", "c_d"}, {"m.1", "c-2"}, {"x_y_z", "q"}} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, m, c string) {
		if migrations.ValidateMigrationID("m", m) != nil || migrations.ValidateCandidateID("c", c) != nil {
			return
		}
		gm, gc, err := migrations.ParseRunID(migrations.RunID(m, c))
		if err != nil || gm != m || gc != c {
			t.Fatalf("ParseRunID(RunID(%q, %q)) = %q, %q, %v", m, c, gm, gc, err)
		}
	})
}

func TestParseRunIDRejects(t *testing.T) {
	for _, id := range []string{"", "nosep", "__c", "m__", "m__c__d", "m___c", "m__c d"} {
		if _, _, err := migrations.ParseRunID(id); err == nil {
			t.Errorf("ParseRunID(%q) accepted a malformed run id", id)
		}
	}
}
