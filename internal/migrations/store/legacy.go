package store

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Definitions stored before the wire contract was made exact have other shapes: overview
// phases as objects (now `phases`, with their names as the `overview` strings), file groups
// listing file paths as strings (now FileRefs), and step configs with values of any JSON
// type (now strings). Both stores decode through these functions, which try the current
// shape and, when it does not fit, upgrade the stored JSON once in memory. Nothing is
// rewritten in the database: the next announce or submission stores the current shape.

// decodeDef decodes a stored definition into v, upgrading a legacy shape with upgrade.
func decodeDef(raw []byte, v any, upgrade func(map[string]any)) error {
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
	return json.Unmarshal(upgraded, v)
}

// upgradeMigrationDef moves object overview phases to `phases` and upgrades the steps.
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
	upgradeSteps(doc["steps"])
}

// upgradeCandidateDef turns file paths into FileRefs and upgrades the steps.
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
		}
	}
	upgradeSteps(doc["steps"])
}

// upgradeSteps renders every non-string config value as its JSON text.
func upgradeSteps(v any) {
	steps, _ := v.([]any)
	for _, s := range steps {
		step, _ := s.(map[string]any)
		config, _ := step["config"].(map[string]any)
		for k, val := range config {
			if _, ok := val.(string); ok {
				continue
			}
			b, err := json.Marshal(val)
			if err != nil {
				delete(config, k)
				continue
			}
			config[k] = string(b)
		}
	}
}
