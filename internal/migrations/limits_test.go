package migrations_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/internal/migrations"
)

func TestMergeStepMetadata(t *testing.T) {
	keys := func(n int, size int) map[string]string {
		out := map[string]string{}
		for i := range n {
			out[fmt.Sprintf("k%02d", i)] = strings.Repeat("v", size)
		}
		return out
	}
	cases := []struct {
		name          string
		current, next map[string]string
		wantErr       string
		wantKeys      int
	}{
		{"nothing new", keys(3, 1), nil, "", 3},
		{"new keys within the bound", keys(3, 1), map[string]string{"prUrl": "https://x"}, "", 4},
		{"overwriting keys does not count twice", keys(64, 10), keys(64, 20), "", 64},
		{"one key too many", keys(64, 1), map[string]string{"extra": "x"}, "65 keys", 0},
		{"too many bytes after merging", keys(8, 8000), map[string]string{"more": strings.Repeat("x", 2000)}, "bytes", 0},
		{"exactly the byte bound", map[string]string{"a": strings.Repeat("x", migrations.MaxStepMetadataBytes-1)}, nil, "", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := migrations.MergeStepMetadata(tc.current, tc.next)
			if tc.wantErr == "" {
				require.NoError(t, err)
				require.Len(t, got, tc.wantKeys)
				return
			}
			var lerr *migrations.LimitError
			require.True(t, errors.As(err, &lerr), "error %v", err)
			require.Equal(t, "metadata", lerr.Field)
			require.Contains(t, lerr.Message, tc.wantErr)
			require.Equal(t, tc.current, got, "the step's metadata is kept as it was")
		})
	}
}
