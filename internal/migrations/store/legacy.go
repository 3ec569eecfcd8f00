package store

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Definitions stored before the wire contract was made exact have other shapes: overview
// phases as objects (now `phases`, with their names as the `overview` strings) and file groups
// listing file paths as strings (now FileRefs). (Step configs with values of any JSON type
// decode through api.StepConfig's own UnmarshalJSON.) Both stores decode through decodeDef,
// which tries the current shape and, when it does not fit, upgrades the stored JSON in memory.
// Nothing is rewritten in the database: the next announce or submission stores the current
// shape; until then each read of a legacy row pays the upgrade.

// decodeDef decodes a stored definition into v, upgrading a legacy shape with upgrade.
func decodeDef[T any](raw []byte, v *T, upgrade func(map[string]any)) error {
	err := json.Unmarshal(raw, v)
	var typeErr *json.UnmarshalTypeError
	if err == nil || !errors.As(err, &typeErr) {
		return err
	}
	var doc map[string]any
	if jerr := json.Unmarshal(raw, &doc); jerr != nil {
		return err
	}
	upgrade(doc)
	upgraded, merr := json.Marshal(doc)
	if merr != nil {
		return fmt.Errorf("upgrade stored definition: %w", merr)
	}
	var fresh T
	if err := json.Unmarshal(upgraded, &fresh); err != nil {
		return err
	}
	*v = fresh
	return nil
}

// upgradeMigrationDef moves object overview phases to `phases`.
func upgradeMigrationDef(doc map[string]any) {
	if items, ok := doc["overview"].([]any); ok {
		var names []any
		var phases []any
		for _, it := range items {
			switch p := it.(type) {
			case string:
				names = append(names, p)
			case map[string]any:
				phases = append(phases, p)
				if name, ok := p["name"].(string); ok {
					names = append(names, name)
				}
			}
		}
		doc["overview"] = names
		if len(phases) > 0 && doc["phases"] == nil {
			doc["phases"] = phases
		}
	}
}

// upgradeCandidateDef turns file paths into FileRefs (a group without files gets an empty list,
// as the contract's FileGroup always has one).
func upgradeCandidateDef(doc map[string]any) {
	if groups, ok := doc["files"].([]any); ok {
		for _, g := range groups {
			group, ok := g.(map[string]any)
			if !ok {
				continue
			}
			files, _ := group["files"].([]any)
			for i, f := range files {
				if path, ok := f.(string); ok {
					files[i] = map[string]any{"path": path, "url": ""}
				}
			}
			if files == nil {
				group["files"] = []any{}
			}
		}
	}
}
