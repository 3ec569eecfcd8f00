package api_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/pkg/api"
)

func TestStepConfigReadsValuesOfAnyType(t *testing.T) {
	cases := []struct {
		in   string
		want api.StepConfig
	}{
		{`{"branch":"main"}`, api.StepConfig{"branch": "main"}},
		{`{"draft":true,"n":3,"reviewers":["a", "b"],"opts":{"x":null},"none":null}`,
			api.StepConfig{"draft": "true", "n": "3", "reviewers": `["a","b"]`, "opts": `{"x":null}`, "none": ""}},
		{`{}`, api.StepConfig{}},
		{`null`, nil},
	}
	for _, tc := range cases {
		var got api.StepConfig
		require.NoError(t, json.Unmarshal([]byte(tc.in), &got), tc.in)
		require.Equal(t, tc.want, got, tc.in)
	}
	var def api.StepDefinition
	require.NoError(t, json.Unmarshal([]byte(`{"name":"pr","config":{"draft":false}}`), &def))
	require.Equal(t, "false", def.Config["draft"])
	require.Error(t, json.Unmarshal([]byte(`{"config":["not","a","map"]}`), &def))
}
