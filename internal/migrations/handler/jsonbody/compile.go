package jsonbody

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
)

// Type bits of a node.
const (
	tObject = 1 << iota
	tArray
	tString
	tInteger
	tNumber
	tBoolean
)

var typeBits = map[string]uint8{
	openapi3.TypeObject:  tObject,
	openapi3.TypeArray:   tArray,
	openapi3.TypeString:  tString,
	openapi3.TypeInteger: tInteger,
	openapi3.TypeNumber:  tNumber,
	openapi3.TypeBoolean: tBoolean,
}

// How an object treats keys that its properties do not declare.
const (
	extraDrop   = iota // allowed, skipped and left out of the copy
	extraSchema        // validated against additionalProperties and kept
	extraForbid        // refused
)

// node is a compiled schema.
type node struct {
	any      bool // the empty schema: any value is kept as it is (null only when nullable)
	types    uint8
	typeName string // for "must be of type ...", as kin-openapi words it
	nullable bool
	desc     string

	enum      bool // the value must be one of enumStr, enumNum, enumBool
	enumStr   []string
	enumNum   []float64
	enumBool  []bool
	enumNames string

	minLen, maxLen int // maxLen < 0: none
	storeLimit     int // characters of a string worth holding; < 0: all
	pattern        *regexp.Regexp
	patternSrc     string

	min, max *float64

	items              *node
	minItems, maxItems int // maxItems < 0: none

	props              map[string]*prop
	required           []*prop
	extra              int
	extraNode          *node
	minProps, maxProps int // maxProps < 0: none
}

type prop struct {
	name     string
	idx      int
	node     *node
	required bool
}

// anyValue is what an array without items holds: anything, null included (kin-openapi does not
// look at such items).
var anyValue = &node{any: true, nullable: true}

type compiler struct {
	nodes map[*openapi3.Schema]*node
}

func (c *compiler) compile(s *openapi3.Schema, where string) (*node, error) {
	if s == nil {
		return nil, c.errorf(where, "is an unresolved $ref")
	}
	if n, ok := c.nodes[s]; ok {
		return n, nil // recursive schema: the node is being (or has been) built
	}
	if kw := unsupported(s); kw != "" {
		return nil, c.errorf(where, "uses %s, which jsonbody does not implement", kw)
	}
	// A title, when there is one, is the short form a pattern's error message quotes.
	n := &node{desc: cmp.Or(s.Title, s.Description), nullable: s.Nullable, maxLen: -1, storeLimit: -1, maxItems: -1, maxProps: -1}
	c.nodes[s] = n
	if s.Type.IsEmpty() {
		if !empty(s) {
			return nil, c.errorf(where, "has no type; jsonbody implements untyped schemas only without keywords")
		}
		n.any = true
		return n, nil
	}
	for _, t := range s.Type.Slice() {
		if t == openapi3.TypeNull {
			n.nullable = true
			continue
		}
		bit, ok := typeBits[t]
		if !ok {
			return nil, c.errorf(where, "has the unknown type %q", t)
		}
		n.types |= bit
	}
	n.typeName = strings.Join(s.Type.Slice(), " or ")

	if len(s.Enum) > 0 {
		if n.types&(tObject|tArray) != 0 {
			return nil, c.errorf(where, "has an enum on an object or array type, which jsonbody does not implement")
		}
		n.enum = true
		names := make([]string, 0, len(s.Enum))
		longest := 0
		for _, e := range s.Enum {
			switch e := e.(type) {
			case nil:
				continue // null is decided by nullable alone, as kin-openapi does
			case string:
				n.enumStr = append(n.enumStr, e)
				longest = max(longest, utf8.RuneCountInString(e))
			case bool:
				n.enumBool = append(n.enumBool, e)
			default:
				f, ok := number(e)
				if !ok {
					return nil, c.errorf(where, "has the enum value %v of type %T, which jsonbody does not implement", e, e)
				}
				n.enumNum = append(n.enumNum, f)
			}
			names = append(names, fmt.Sprint(e))
		}
		n.enumNames = strings.Join(names, ", ")
		// A longer string cannot be one of the values; hold enough of it for the message.
		n.storeLimit = max(longest, quoteChars)
	}

	n.minLen = int(min(s.MinLength, math.MaxInt32))
	if s.MaxLength != nil {
		n.maxLen = int(min(*s.MaxLength, math.MaxInt32))
		if n.storeLimit < 0 || n.maxLen < n.storeLimit {
			n.storeLimit = n.maxLen
		}
	}
	if s.Pattern != "" {
		re, err := regexp.Compile(goRegexp(s.Pattern))
		if err != nil {
			return nil, c.errorf(where, "has a pattern that does not compile: %v", err)
		}
		n.pattern, n.patternSrc = re, s.Pattern
	}
	n.min, n.max = s.Min, s.Max

	if s.Items != nil {
		items, err := c.compile(s.Items.Value, where+"[]")
		if err != nil {
			return nil, err
		}
		n.items = items
	} else {
		n.items = anyValue
	}
	n.minItems = int(min(s.MinItems, math.MaxInt32))
	if s.MaxItems != nil {
		n.maxItems = int(min(*s.MaxItems, math.MaxInt32))
	}

	names := make([]string, 0, len(s.Properties))
	for name := range s.Properties {
		names = append(names, name)
	}
	slices.Sort(names)
	n.props = make(map[string]*prop, len(names))
	for i, name := range names {
		ref := s.Properties[name]
		if ref == nil {
			return nil, c.errorf(join(where, name), "is an unresolved $ref")
		}
		child, err := c.compile(ref.Value, join(where, name))
		if err != nil {
			return nil, err
		}
		n.props[name] = &prop{name: name, idx: i, node: child}
	}
	for _, name := range s.Required {
		p := n.props[name]
		if p == nil {
			return nil, c.errorf(where, "requires %q, which its properties do not declare (jsonbody does not implement that)", name)
		}
		if !p.required {
			p.required = true
			n.required = append(n.required, p)
		}
	}
	switch ap := s.AdditionalProperties; {
	case ap.Schema != nil:
		extra, err := c.compile(ap.Schema.Value, join(where, "*"))
		if err != nil {
			return nil, err
		}
		n.extra, n.extraNode = extraSchema, extra
	case ap.Has != nil && !*ap.Has:
		n.extra = extraForbid
	default:
		n.extra = extraDrop
	}
	n.minProps = int(min(s.MinProps, math.MaxInt32))
	if s.MaxProps != nil {
		n.maxProps = int(min(*s.MaxProps, math.MaxInt32))
	}
	return n, nil
}

func (c *compiler) errorf(where, format string, args ...any) error {
	if where == "" {
		where = "the document"
	}
	return fmt.Errorf("jsonbody: schema of %s %s", where, fmt.Sprintf(format, args...))
}

func join(where, name string) string {
	if where == "" {
		return name
	}
	return where + "." + name
}

// unsupported names the first keyword of s that jsonbody does not implement, or "".
// Annotations (title, description, example(s), externalDocs, deprecated, xml, $comment and x-
// extensions) do not validate and are allowed.
func unsupported(s *openapi3.Schema) string {
	exclusive := func(b openapi3.ExclusiveBound) bool {
		return b.Value != nil || b.IsTrue()
	}
	boolSchema := func(b openapi3.BoolSchema) bool { return b.Has != nil || b.Schema != nil }
	for _, kw := range []struct {
		name string
		used bool
	}{
		{"oneOf", len(s.OneOf) > 0},
		{"anyOf", len(s.AnyOf) > 0},
		{"allOf", len(s.AllOf) > 0},
		{"not", s.Not != nil},
		{"discriminator", s.Discriminator != nil},
		{"format", s.Format != ""},
		{"default", s.Default != nil},
		{"uniqueItems", s.UniqueItems},
		{"exclusiveMinimum", exclusive(s.ExclusiveMin)},
		{"exclusiveMaximum", exclusive(s.ExclusiveMax)},
		{"multipleOf", s.MultipleOf != nil},
		{"readOnly", s.ReadOnly},
		{"writeOnly", s.WriteOnly},
		{"allowEmptyValue", s.AllowEmptyValue},
		{"const", s.Const != nil},
		{"prefixItems", len(s.PrefixItems) > 0},
		{"contains", s.Contains != nil},
		{"minContains", s.MinContains != nil},
		{"maxContains", s.MaxContains != nil},
		{"patternProperties", len(s.PatternProperties) > 0},
		{"dependentSchemas", len(s.DependentSchemas) > 0},
		{"dependentRequired", len(s.DependentRequired) > 0},
		{"propertyNames", s.PropertyNames != nil},
		{"unevaluatedItems", boolSchema(s.UnevaluatedItems)},
		{"unevaluatedProperties", boolSchema(s.UnevaluatedProperties)},
		{"if", s.If != nil},
		{"then", s.Then != nil},
		{"else", s.Else != nil},
		{"a boolean schema", s.Always != nil},
		{"$defs", len(s.Defs) > 0},
		{"$schema", s.SchemaDialect != ""},
		{"$id", s.SchemaID != ""},
		{"$anchor", s.Anchor != ""},
		{"$dynamicRef", s.DynamicRef != ""},
		{"$dynamicAnchor", s.DynamicAnchor != ""},
		{"contentMediaType", s.ContentMediaType != ""},
		{"contentEncoding", s.ContentEncoding != ""},
		{"contentSchema", s.ContentSchema != nil},
	} {
		if kw.used {
			return kw.name
		}
	}
	return ""
}

// empty reports whether an untyped s has no validation keyword left (unsupported ones are
// refused before).
func empty(s *openapi3.Schema) bool {
	return !s.Nullable && len(s.Enum) == 0 && s.Min == nil && s.Max == nil &&
		s.MinLength == 0 && s.MaxLength == nil && s.Pattern == "" &&
		s.Items == nil && s.MinItems == 0 && s.MaxItems == nil &&
		len(s.Properties) == 0 && len(s.Required) == 0 && s.MinProps == 0 && s.MaxProps == nil &&
		s.AdditionalProperties.Has == nil && s.AdditionalProperties.Schema == nil
}

func number(v any) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, true
	case float32:
		return float64(v), true
	case int:
		return float64(v), true
	case int64:
		return float64(v), true
	case int32:
		return float64(v), true
	case uint64:
		return float64(v), true
	case json.Number:
		f, err := v.Float64()
		return f, err == nil
	}
	return 0, false
}

// goRegexp rewrites \uXXXX in an ECMA pattern as Go's \x{XXXX}, as kin-openapi does.
var patCodepoints = regexp.MustCompile(`\\u([0-9A-F]{4})`)

func goRegexp(re string) string {
	return patCodepoints.ReplaceAllString(re, `\x{$1}`)
}
