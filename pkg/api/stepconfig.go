package api

import (
	"encoding/json"
	"fmt"
)

// UnmarshalJSON reads a step config whose values may be of any JSON type, as Drover stored and
// passed them before the wire contract made them strings: a string stays as it is, any other
// value becomes its JSON text. Runs started before that change carry such configs in their
// workflow inputs, and would otherwise fail to replay.
func (c *StepConfig) UnmarshalJSON(raw []byte) error {
	var values map[string]json.RawMessage
	if err := json.Unmarshal(raw, &values); err != nil {
		return err
	}
	if values == nil {
		*c = nil
		return nil
	}
	out := make(StepConfig, len(values))
	for k, v := range values {
		var s string
		if err := json.Unmarshal(v, &s); err == nil {
			out[k] = s
			continue
		}
		var any json.RawMessage
		if err := json.Unmarshal(v, &any); err != nil {
			return fmt.Errorf("config %q: %w", k, err)
		}
		compact, err := json.Marshal(any)
		if err != nil {
			return fmt.Errorf("config %q: %w", k, err)
		}
		out[k] = string(compact)
	}
	*c = out
	return nil
}
