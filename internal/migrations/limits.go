package migrations

import (
	"fmt"
	"maps"
)

// Bounds on what a run keeps per step, after merging every event the migrator sent for it: a
// migrator reporting progress can make a step's metadata grow with each event, and the read
// model and the workflow's history both carry it.
const (
	MaxStepMetadataKeys  = 64
	MaxStepMetadataBytes = 64 << 10
)

// MetadataBytes is the size of a metadata map: its keys and values, in bytes.
func MetadataBytes(md map[string]string) int {
	n := 0
	for k, v := range md {
		n += len(k) + len(v)
	}
	return n
}

// MergeStepMetadata merges an event's metadata into a step's (the event's values win). It
// fails with a *LimitError, and returns current unchanged, when the result would exceed
// MaxStepMetadataKeys or MaxStepMetadataBytes.
func MergeStepMetadata(current, update map[string]string) (map[string]string, error) {
	if len(update) == 0 {
		return current, nil
	}
	out := make(map[string]string, len(current)+len(update))
	maps.Copy(out, current)
	maps.Copy(out, update)
	if len(out) > MaxStepMetadataKeys {
		return current, &LimitError{ValidationError{Field: "metadata", Message: fmt.Sprintf(
			"the step's metadata would have %d keys with this event's; at most %d keys are kept per step", len(out), MaxStepMetadataKeys)}}
	}
	if n := MetadataBytes(out); n > MaxStepMetadataBytes {
		return current, &LimitError{ValidationError{Field: "metadata", Message: fmt.Sprintf(
			"the step's metadata would be %d bytes with this event's; at most %d bytes (keys and values) are kept per step", n, MaxStepMetadataBytes)}}
	}
	return out, nil
}
