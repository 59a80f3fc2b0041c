package sam

import (
	"errors"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// A decoded template is plain data: map[string]any, []any, string, number, bool or nil. Short-form
// tags are rewritten to their long forms ({"Ref": x}, {"Fn::Sub": x}) so the rest of the package
// sees one shape whether the template was YAML with tags, YAML without, or JSON.

// number keeps a numeric scalar exactly as written: Lambda receives environment values as text, so
// "1.0" must stay "1.0" rather than become "1".
type number string

// maxDepth bounds nesting so hostile input cannot exhaust the stack (yaml.v3 uses the same bound).
const maxDepth = 10000

// shortTags maps each CloudFormation short-form tag to the key of its long form.
var shortTags = map[string]string{
	"!Ref":          "Ref",
	"!Condition":    "Condition",
	"!Sub":          "Fn::Sub",
	"!GetAtt":       "Fn::GetAtt",
	"!If":           "Fn::If",
	"!Join":         "Fn::Join",
	"!Select":       "Fn::Select",
	"!FindInMap":    "Fn::FindInMap",
	"!ImportValue":  "Fn::ImportValue",
	"!Equals":       "Fn::Equals",
	"!Not":          "Fn::Not",
	"!And":          "Fn::And",
	"!Or":           "Fn::Or",
	"!Base64":       "Fn::Base64",
	"!Split":        "Fn::Split",
	"!Cidr":         "Fn::Cidr",
	"!GetAZs":       "Fn::GetAZs",
	"!Transform":    "Fn::Transform",
	"!Length":       "Fn::Length",
	"!ToJsonString": "Fn::ToJsonString",
}

// decodeYAML parses one YAML (or JSON) document into plain data. A key written twice in one
// mapping keeps its last value, as PyYAML (and so `sam build`) reads it; warnings say where.
func decodeYAML(data []byte) (v any, warnings []string, err error) {
	var doc yaml.Node
	// yaml.v3 has panicked on malformed input in the past; a template must never crash the build.
	defer func() {
		if r := recover(); r != nil {
			v, warnings, err = nil, nil, fmt.Errorf("YAML parser failed: %v", r)
		}
	}()
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, err
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil, errors.New("template is empty")
	}
	c := &converter{anchors: map[*yaml.Node]*anchorState{}}
	v, err = c.node(doc.Content[0], 0)
	return v, c.warnings, err
}

type anchorState struct {
	done  bool
	value any
}

// converter turns yaml.Node trees into plain data. Anchored nodes are converted once and aliases
// share the result, so alias bombs cost no memory; callers must therefore never mutate decoded
// values in place.
type converter struct {
	anchors  map[*yaml.Node]*anchorState
	warnings []string
}

func (c *converter) node(n *yaml.Node, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("line %d: nesting deeper than %d levels", n.Line, maxDepth)
	}
	if n.Kind == yaml.AliasNode {
		return c.alias(n)
	}
	if n.Anchor == "" {
		return c.convert(n, depth)
	}
	st := c.anchors[n]
	if st != nil {
		if !st.done {
			return nil, fmt.Errorf("line %d: anchor &%s contains an alias to itself", n.Line, n.Anchor)
		}
		return st.value, nil
	}
	st = &anchorState{}
	c.anchors[n] = st
	v, err := c.convert(n, depth)
	if err != nil {
		return nil, err
	}
	st.done, st.value = true, v
	return v, nil
}

func (c *converter) alias(n *yaml.Node) (any, error) {
	target := n.Alias
	if target == nil {
		return nil, fmt.Errorf("line %d: alias *%s has no anchor", n.Line, n.Value)
	}
	if st := c.anchors[target]; st != nil {
		if !st.done {
			return nil, fmt.Errorf("line %d: alias *%s refers to a node that contains it", n.Line, n.Value)
		}
		return st.value, nil
	}
	// An anchor not converted yet (e.g. an alias used as a mapping key before its anchor's value
	// was reached): convert it now.
	return c.node(target, 0)
}

func (c *converter) convert(n *yaml.Node, depth int) (any, error) {
	tag := n.Tag
	if tag == "" || tag == "!" {
		tag = n.ShortTag()
	}
	if strings.HasPrefix(tag, "!") && !strings.HasPrefix(tag, "!!") {
		return c.shortForm(n, tag, depth)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return c.node(n.Content[0], depth+1)
	case yaml.SequenceNode:
		return c.sequence(n, depth)
	case yaml.MappingNode:
		return c.mapping(n, depth)
	case yaml.ScalarNode:
		return scalar(n, tag)
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node", n.Line)
}

func (c *converter) sequence(n *yaml.Node, depth int) ([]any, error) {
	out := make([]any, 0, len(n.Content))
	for _, item := range n.Content {
		v, err := c.node(item, depth+1)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (c *converter) mapping(n *yaml.Node, depth int) (map[string]any, error) {
	out := make(map[string]any, len(n.Content)/2)
	var merged []map[string]any
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, vn := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.AliasNode && k.Alias != nil {
			k = k.Alias
		}
		if k.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("line %d: mapping keys must be plain strings", k.Line)
		}
		if k.ShortTag() == "!!merge" {
			// "<<: *base" merges the aliased mapping(s); keys written here win.
			v, err := c.node(vn, depth+1)
			if err != nil {
				return nil, err
			}
			ms, err := mergeSources(v, k.Line)
			if err != nil {
				return nil, err
			}
			merged = append(merged, ms...)
			continue
		}
		if _, dup := out[k.Value]; dup {
			c.warnings = append(c.warnings, fmt.Sprintf("line %d: key %q appears twice in the same mapping; the last one counts, as sam build reads it: remove the other", k.Line, k.Value))
		}
		v, err := c.node(vn, depth+1)
		if err != nil {
			return nil, err
		}
		out[k.Value] = v
	}
	for _, m := range merged {
		for k, v := range m {
			if _, ok := out[k]; !ok {
				out[k] = v
			}
		}
	}
	return out, nil
}

func mergeSources(v any, line int) ([]map[string]any, error) {
	switch v := v.(type) {
	case map[string]any:
		return []map[string]any{v}, nil
	case []any:
		var out []map[string]any
		for _, e := range v {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("line %d: merge key << needs mappings", line)
			}
			out = append(out, m)
		}
		return out, nil
	}
	return nil, fmt.Errorf("line %d: merge key << needs a mapping", line)
}

// scalar converts an untagged or standard-tagged scalar.
func scalar(n *yaml.Node, tag string) (any, error) {
	switch tag {
	case "!!str", "!!timestamp", "!!binary":
		return n.Value, nil
	case "!!int", "!!float":
		return number(n.Value), nil
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("line %d: unsupported YAML tag %s", n.Line, tag)
}

// shortForm rewrites a CloudFormation short-form tag to its long form.
func (c *converter) shortForm(n *yaml.Node, tag string, depth int) (any, error) {
	key, ok := shortTags[tag]
	if !ok {
		return nil, fmt.Errorf("line %d: unknown tag %s: use a CloudFormation intrinsic function such as !Ref or !Sub", n.Line, tag)
	}
	var arg any
	switch n.Kind {
	case yaml.ScalarNode:
		// The tag replaces the scalar's implicit type: "!Ref 123" names "123".
		arg = n.Value
		if key == "Fn::GetAtt" {
			res, attr, found := strings.Cut(n.Value, ".")
			if !found || res == "" || attr == "" {
				return nil, fmt.Errorf("line %d: !GetAtt %q: write it as Resource.Attribute", n.Line, n.Value)
			}
			arg = []any{res, attr}
		}
	case yaml.SequenceNode:
		v, err := c.sequence(n, depth)
		if err != nil {
			return nil, err
		}
		arg = v
	case yaml.MappingNode:
		v, err := c.mapping(n, depth)
		if err != nil {
			return nil, err
		}
		arg = v
	default:
		return nil, fmt.Errorf("line %d: tag %s on an unexpected YAML node", n.Line, tag)
	}
	return map[string]any{key: arg}, nil
}
