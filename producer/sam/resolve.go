package sam

import (
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// The resolver evaluates the intrinsic functions: parameters, pseudo-parameters, conditions and
// mappings have their values; what needs a deployed stack (Fn::GetAtt, Fn::ImportValue, a Ref to
// a resource, AWS::StackId) gets an offline placeholder (offline.go), except in strict mode,
// used for the paths the build reads.

// noValue is what AWS::NoValue evaluates to: the enclosing property or list item is absent.
type noValueType struct{}

var noValue = noValueType{}

// evalBudget bounds the work of one template's evaluation: aliases let a small file describe a
// huge value, and evaluating it must end with an error, not hang.
const evalBudget = 1_000_000

// evalBytesBudget bounds the text the intrinsic functions of one template produce (Fn::Join,
// Fn::Sub, Fn::Base64): a few steps joining an aliased 1 MB scalar would otherwise allocate GBs.
// CloudFormation accepts templates of at most 1 MB, so real templates stay far below it.
const evalBytesBudget = 16 << 20

// errTooMuchText is the error when evalBytesBudget is exceeded.
var errTooMuchText = fmt.Errorf("template is too complex to evaluate: its intrinsic functions would produce more than %d MB of text (nested Fn::Join/Fn::Sub over large values); simplify the template", evalBytesBudget>>20)

type paramInfo struct {
	value  string
	hasVal bool
	list   bool // CommaDelimitedList and List<...>: Ref yields a list
}

type resolver struct {
	params     map[string]paramInfo
	pseudo     map[string]string
	conditions map[string]any
	mappings   map[string]any
	resources  map[string]string // logical ID -> Type, SAM's generated resources included
	// strict refuses placeholders: set while resolving a path the build reads.
	strict bool
	// blankParams gives a parameter without a value an empty string, as sam local leaves an
	// environment variable it cannot resolve: set while reading Environment.Variables.
	blankParams bool
	// placeholders records the deployed-stack values resolved offline: what → placeholder.
	placeholders map[string]string

	condCache map[string]bool
	condBusy  map[string]bool
	steps     int
	bytes     int // text produced so far, bounded by evalBytesBudget
}

// grow charges n bytes of produced text against evalBytesBudget before they are allocated.
func (r *resolver) grow(n int) error {
	r.bytes += n
	if n < 0 || r.bytes > evalBytesBudget {
		return errTooMuchText
	}
	return nil
}

func newResolver(params map[string]paramInfo, pseudo map[string]string, conditions, mappings map[string]any, resources map[string]string) *resolver {
	return &resolver{
		params: params, pseudo: pseudo, conditions: conditions, mappings: mappings, resources: resources,
		condCache: map[string]bool{}, condBusy: map[string]bool{},
	}
}

// pseudoParams returns the offline values of the pseudo-parameters; stack is used when
// opts.StackName is empty.
func pseudoParams(opts Options, stack string) map[string]string {
	region := opts.Region
	if region == "" {
		region = "us-east-1"
	}
	account := opts.AccountID
	if account == "" {
		account = "123456789012"
	}
	if opts.StackName != "" {
		stack = opts.StackName
	}
	partition, suffix := "aws", "amazonaws.com"
	switch {
	case strings.HasPrefix(region, "cn-"):
		partition, suffix = "aws-cn", "amazonaws.com.cn"
	case strings.HasPrefix(region, "us-gov-"):
		partition = "aws-us-gov"
	}
	return map[string]string{
		"AWS::Region":    region,
		"AWS::AccountId": account,
		"AWS::StackName": stack,
		"AWS::Partition": partition,
		"AWS::URLSuffix": suffix,
	}
}

// intrinsic reports whether v is a one-key intrinsic function call ({"Ref": x}, {"Fn::Sub": x}).
func intrinsic(v any) (name string, arg any, ok bool) {
	m, isMap := v.(map[string]any)
	if !isMap || len(m) != 1 {
		return "", nil, false
	}
	for k, a := range m {
		if k == "Ref" || strings.HasPrefix(k, "Fn::") {
			return k, a, true
		}
	}
	return "", nil, false
}

// str evaluates v and requires a single string (numbers and booleans are written as text).
func (r *resolver) str(v any) (string, error) {
	out, err := r.eval(v)
	if err != nil {
		return "", err
	}
	return scalarString(out)
}

// optStr is str for an optional property: absent, null and AWS::NoValue give ok=false.
func (r *resolver) optStr(v any) (s string, ok bool, err error) {
	if v == nil {
		return "", false, nil
	}
	out, err := r.eval(v)
	if err != nil || out == noValue || out == nil {
		return "", false, err
	}
	s, err = scalarString(out)
	return s, err == nil, err
}

func scalarString(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case number:
		return string(v), nil
	case bool:
		return strconv.FormatBool(v), nil
	case nil:
		return "", errors.New("value is empty")
	case noValueType:
		return "", errors.New("value is AWS::NoValue")
	case []any:
		return "", errors.New("expected a single value, got a list")
	case map[string]any:
		if name, _, ok := intrinsic(v); ok {
			return "", fmt.Errorf("%s cannot be resolved offline", name)
		}
		return "", errors.New("expected a single value, got a mapping")
	}
	return "", fmt.Errorf("unexpected value %v", v)
}

// eval evaluates the intrinsic functions in v. Plain mappings and lists are evaluated item by
// item, dropping items that are AWS::NoValue.
func (r *resolver) eval(v any) (any, error) {
	r.steps++
	if r.steps > evalBudget {
		return nil, errors.New("template is too complex to evaluate")
	}
	if name, arg, ok := intrinsic(v); ok {
		return r.call(name, arg)
	}
	switch v := v.(type) {
	case []any:
		out := make([]any, 0, len(v))
		for _, e := range v {
			x, err := r.eval(e)
			if err != nil {
				return nil, err
			}
			if x != noValue {
				out = append(out, x)
			}
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(v))
		for _, k := range slices.Sorted(maps.Keys(v)) {
			x, err := r.eval(v[k])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			if x != noValue {
				out[k] = x
			}
		}
		return out, nil
	}
	return v, nil
}

func (r *resolver) call(name string, arg any) (any, error) {
	switch name {
	case "Ref":
		return r.ref(arg)
	case "Fn::Sub":
		return r.sub(arg)
	case "Fn::Join":
		return r.join(arg)
	case "Fn::Select":
		return r.selectFn(arg)
	case "Fn::If":
		return r.ifFn(arg)
	case "Fn::FindInMap":
		return r.findInMap(arg)
	case "Fn::Split":
		return r.split(arg)
	case "Fn::Base64":
		s, err := r.str(arg)
		if err != nil {
			return nil, fmt.Errorf("Fn::Base64: %w", err)
		}
		if err := r.grow(base64.StdEncoding.EncodedLen(len(s))); err != nil {
			return nil, fmt.Errorf("Fn::Base64: %w", err)
		}
		return base64.StdEncoding.EncodeToString([]byte(s)), nil
	case "Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or":
		return r.cond(map[string]any{name: arg})
	case "Fn::GetAtt":
		return r.getAtt(arg)
	case "Fn::ImportValue":
		name, err := r.str(arg)
		if err != nil {
			return nil, fmt.Errorf("Fn::ImportValue: %w", err)
		}
		if r.strict {
			return nil, fmt.Errorf("Fn::ImportValue %s needs a deployed stack and cannot be used for a local path", name)
		}
		r.notePlaceholder("Fn::ImportValue "+name, name)
		return name, nil
	case "Fn::GetAZs":
		region, err := r.str(arg)
		if err != nil || region == "" {
			region = r.pseudo["AWS::Region"]
		}
		return []any{region + "a", region + "b", region + "c"}, nil
	}
	return nil, fmt.Errorf("%s cannot be resolved offline", name)
}

// getAtt resolves Fn::GetAtt, [id, attr] or "id.attr", to its offline placeholder.
func (r *resolver) getAtt(arg any) (any, error) {
	var id, attr string
	switch a := arg.(type) {
	case []any:
		if len(a) != 2 {
			return nil, errors.New("Fn::GetAtt takes [LogicalId, Attribute]")
		}
		var err error
		if id, err = scalarString(a[0]); err != nil {
			return nil, fmt.Errorf("Fn::GetAtt logical ID: %w", err)
		}
		if attr, err = r.str(a[1]); err != nil {
			return nil, fmt.Errorf("Fn::GetAtt attribute: %w", err)
		}
	case string:
		var ok bool
		if id, attr, ok = strings.Cut(a, "."); !ok {
			return nil, errors.New("Fn::GetAtt takes LogicalId.Attribute")
		}
	default:
		return nil, errors.New("Fn::GetAtt takes [LogicalId, Attribute]")
	}
	return r.attribute(id, attr, "Fn::GetAtt")
}

// attribute is the offline value of id.attr; how names the construct for messages.
func (r *resolver) attribute(id, attr, how string) (string, error) {
	typ, ok := r.resources[id]
	if !ok {
		return "", fmt.Errorf("%s %s.%s: no resource %s in the template", how, id, attr, id)
	}
	if r.strict {
		return "", fmt.Errorf("%s %s.%s needs a deployed stack and cannot be used for a local path", how, id, attr)
	}
	v := r.attPlaceholder(id, typ, attr)
	r.notePlaceholder(id+"."+attr, v)
	return v, nil
}

func (r *resolver) ref(arg any) (any, error) {
	name, ok := arg.(string)
	if !ok {
		return nil, errors.New("Ref needs a name")
	}
	return r.lookup(name, "Ref")
}

// lookup resolves a parameter or pseudo-parameter name; how says which construct asked.
func (r *resolver) lookup(name, how string) (any, error) {
	if name == "AWS::NoValue" {
		return noValue, nil
	}
	if v, ok := r.pseudo[name]; ok {
		return v, nil
	}
	if p, ok := r.params[name]; ok {
		if !p.hasVal {
			if r.blankParams && !r.strict {
				r.notePlaceholder("parameter "+name+" (no value)", `""`)
				return "", nil
			}
			return nil, fmt.Errorf("parameter %s has no value: set it with PARAMETER_OVERRIDES", name)
		}
		if p.list {
			return splitList(p.value), nil
		}
		return p.value, nil
	}
	if typ, ok := r.resources[name]; ok {
		if r.strict {
			return nil, fmt.Errorf("%s to resource %s (%s) needs a deployed stack and cannot be used for a local path", how, name, typ)
		}
		v := r.refPlaceholder(name, typ)
		r.notePlaceholder(name, v)
		return v, nil
	}
	switch name {
	case "AWS::StackId":
		if r.strict {
			return nil, fmt.Errorf("pseudo-parameter %s needs a deployed stack and cannot be used for a local path", name)
		}
		v := fmt.Sprintf("arn:%s:cloudformation:%s:%s:stack/%s/%s", r.pseudo["AWS::Partition"], r.pseudo["AWS::Region"], r.pseudo["AWS::AccountId"], r.pseudo["AWS::StackName"], stackUUID)
		r.notePlaceholder(name, v)
		return v, nil
	case "AWS::NotificationARNs":
		return []any{}, nil
	}
	if strings.HasPrefix(name, "AWS::") {
		return nil, fmt.Errorf("pseudo-parameter %s cannot be resolved offline", name)
	}
	return nil, fmt.Errorf("%s to %s: no such parameter or resource in the template", how, name)
}

func splitList(s string) []any {
	parts := strings.Split(s, ",")
	out := make([]any, len(parts))
	for i, p := range parts {
		out[i] = strings.TrimSpace(p)
	}
	return out
}

// sub implements Fn::Sub in both forms: "text" and ["text", {Var: value}].
func (r *resolver) sub(arg any) (any, error) {
	var text string
	var vars map[string]any
	switch a := arg.(type) {
	case string:
		text = a
	case []any:
		if len(a) != 2 {
			return nil, errors.New("Fn::Sub takes a string or [string, {variables}]")
		}
		s, ok := a[0].(string)
		if !ok {
			return nil, errors.New("Fn::Sub: the first item must be a string")
		}
		m, ok := a[1].(map[string]any)
		if !ok {
			return nil, errors.New("Fn::Sub: the second item must be a mapping of variables")
		}
		text, vars = s, m
	default:
		return nil, errors.New("Fn::Sub takes a string or [string, {variables}]")
	}
	var b strings.Builder
	for {
		i := strings.Index(text, "${")
		literal := i
		if i < 0 {
			literal = len(text)
		}
		if err := r.grow(literal); err != nil {
			return nil, fmt.Errorf("Fn::Sub: %w", err)
		}
		if i < 0 {
			b.WriteString(text)
			return b.String(), nil
		}
		b.WriteString(text[:i])
		rest := text[i+2:]
		j := strings.IndexByte(rest, '}')
		if j < 0 {
			// An unterminated ${ is literal text, as in CloudFormation.
			b.WriteString(text[i:])
			return b.String(), nil
		}
		name := rest[:j]
		text = rest[j+1:]
		if strings.HasPrefix(name, "!") {
			// ${!Literal} writes ${Literal}.
			b.WriteString("${" + name[1:] + "}")
			continue
		}
		name = strings.TrimSpace(name)
		val, err := r.subVar(name, vars)
		if err != nil {
			return nil, fmt.Errorf("Fn::Sub ${%s}: %w", name, err)
		}
		if err := r.grow(len(val)); err != nil {
			return nil, fmt.Errorf("Fn::Sub ${%s}: %w", name, err)
		}
		b.WriteString(val)
	}
}

func (r *resolver) subVar(name string, vars map[string]any) (string, error) {
	if v, ok := vars[name]; ok {
		return r.str(v)
	}
	if _, ok := r.params[name]; !ok {
		if _, ok := r.resources[name]; !ok {
			// ${Fn.Arn}, but not SAM's ${Fn.Alias}, which is a Ref.
			if id, attr, dot := strings.Cut(name, "."); dot {
				return r.attribute(id, attr, "Fn::Sub")
			}
		}
	}
	v, err := r.lookup(name, "Fn::Sub")
	if err != nil {
		return "", err
	}
	if l, ok := v.([]any); ok {
		// A list parameter inside Fn::Sub is rejected by CloudFormation too.
		return "", fmt.Errorf("parameter %s is a list (%d items) and cannot be substituted into a string", name, len(l))
	}
	return scalarString(v)
}

// list evaluates v and requires a list.
func (r *resolver) list(v any, fn string) ([]any, error) {
	x, err := r.eval(v)
	if err != nil {
		return nil, err
	}
	l, ok := x.([]any)
	if !ok {
		return nil, fmt.Errorf("%s needs a list", fn)
	}
	return l, nil
}

func args(arg any, fn string, n ...int) ([]any, error) {
	l, ok := arg.([]any)
	if ok {
		for _, want := range n {
			if len(l) == want {
				return l, nil
			}
		}
	}
	want := make([]string, len(n))
	for i, x := range n {
		want[i] = strconv.Itoa(x)
	}
	return nil, fmt.Errorf("%s takes a list of %s items", fn, strings.Join(want, " or "))
}

func (r *resolver) join(arg any) (any, error) {
	a, err := args(arg, "Fn::Join", 2)
	if err != nil {
		return nil, err
	}
	sep, err := r.str(a[0])
	if err != nil {
		return nil, fmt.Errorf("Fn::Join delimiter: %w", err)
	}
	items, err := r.list(a[1], "Fn::Join")
	if err != nil {
		return nil, fmt.Errorf("Fn::Join: %w", err)
	}
	parts := make([]string, 0, len(items))
	for _, it := range items {
		s, err := scalarString(it)
		if err != nil {
			return nil, fmt.Errorf("Fn::Join item: %w", err)
		}
		parts = append(parts, s)
		if err := r.grow(len(s) + len(sep)); err != nil {
			return nil, fmt.Errorf("Fn::Join: %w", err)
		}
	}
	return strings.Join(parts, sep), nil
}

func (r *resolver) selectFn(arg any) (any, error) {
	a, err := args(arg, "Fn::Select", 2)
	if err != nil {
		return nil, err
	}
	is, err := r.str(a[0])
	if err != nil {
		return nil, fmt.Errorf("Fn::Select index: %w", err)
	}
	i, err := strconv.Atoi(is)
	if err != nil {
		return nil, fmt.Errorf("Fn::Select index %q is not a whole number", is)
	}
	items, err := r.list(a[1], "Fn::Select")
	if err != nil {
		return nil, fmt.Errorf("Fn::Select: %w", err)
	}
	if i < 0 || i >= len(items) {
		return nil, fmt.Errorf("Fn::Select index %d is outside the list of %d items", i, len(items))
	}
	return items[i], nil
}

func (r *resolver) split(arg any) (any, error) {
	a, err := args(arg, "Fn::Split", 2)
	if err != nil {
		return nil, err
	}
	sep, err := r.str(a[0])
	if err != nil {
		return nil, fmt.Errorf("Fn::Split delimiter: %w", err)
	}
	if sep == "" {
		return nil, errors.New("Fn::Split delimiter is empty")
	}
	s, err := r.str(a[1])
	if err != nil {
		return nil, fmt.Errorf("Fn::Split: %w", err)
	}
	parts := strings.Split(s, sep)
	out := make([]any, len(parts))
	for i, p := range parts {
		out[i] = p
	}
	return out, nil
}

// ifBranch picks the Fn::If branch its condition selects, unevaluated: callers that need a
// value evaluate it, callers that walk lists (Layers) look at it first.
func (r *resolver) ifBranch(arg any) (any, error) {
	a, err := args(arg, "Fn::If", 3)
	if err != nil {
		return nil, err
	}
	name, ok := a[0].(string)
	if !ok {
		return nil, errors.New("Fn::If: the first item must name a condition")
	}
	on, err := r.condition(name)
	if err != nil {
		return nil, fmt.Errorf("Fn::If: %w", err)
	}
	if on {
		return a[1], nil
	}
	return a[2], nil
}

func (r *resolver) ifFn(arg any) (any, error) {
	branch, err := r.ifBranch(arg)
	if err != nil {
		return nil, err
	}
	return r.eval(branch)
}

// findInMap implements Fn::FindInMap, including the optional {DefaultValue: x} fourth item.
func (r *resolver) findInMap(arg any) (any, error) {
	a, err := args(arg, "Fn::FindInMap", 3, 4)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 3)
	for i := range keys {
		if keys[i], err = r.str(a[i]); err != nil {
			return nil, fmt.Errorf("Fn::FindInMap: %w", err)
		}
	}
	var def any
	hasDef := false
	if len(a) == 4 {
		m, ok := a[3].(map[string]any)
		if d, has := m["DefaultValue"]; !ok || !has {
			return nil, errors.New("Fn::FindInMap: the fourth item must be {DefaultValue: value}")
		} else {
			def, hasDef = d, true
		}
	}
	var cur any = r.mappings
	for i, k := range keys {
		m, ok := cur.(map[string]any)
		if ok {
			cur, ok = m[k]
		}
		if !ok {
			if hasDef {
				return r.eval(def)
			}
			return nil, fmt.Errorf("Fn::FindInMap: Mappings has no %s", strings.Join(keys[:i+1], "."))
		}
	}
	return r.eval(cur)
}

// condition evaluates a named entry of Conditions, once.
func (r *resolver) condition(name string) (bool, error) {
	if v, ok := r.condCache[name]; ok {
		return v, nil
	}
	expr, ok := r.conditions[name]
	if !ok {
		return false, fmt.Errorf("no condition named %s in Conditions", name)
	}
	if r.condBusy[name] {
		return false, fmt.Errorf("condition %s depends on itself", name)
	}
	r.condBusy[name] = true
	v, err := r.cond(expr)
	delete(r.condBusy, name)
	if err != nil {
		return false, fmt.Errorf("condition %s: %w", name, err)
	}
	r.condCache[name] = v
	return v, nil
}

// cond evaluates a condition expression: Fn::Equals/Not/And/Or, {Condition: name} or a value that
// evaluates to true or false.
func (r *resolver) cond(expr any) (bool, error) {
	r.steps++
	if r.steps > evalBudget {
		return false, errors.New("template is too complex to evaluate")
	}
	if m, ok := expr.(map[string]any); ok && len(m) == 1 {
		if name, ok := m["Condition"]; ok {
			s, ok := name.(string)
			if !ok {
				return false, errors.New("Condition needs a condition name")
			}
			return r.condition(s)
		}
	}
	name, arg, ok := intrinsic(expr)
	if ok {
		switch name {
		case "Fn::Equals":
			a, err := args(arg, name, 2)
			if err != nil {
				return false, err
			}
			x, err := r.str(a[0])
			if err != nil {
				return false, fmt.Errorf("Fn::Equals: %w", err)
			}
			y, err := r.str(a[1])
			if err != nil {
				return false, fmt.Errorf("Fn::Equals: %w", err)
			}
			return x == y, nil
		case "Fn::Not":
			a, err := args(arg, name, 1)
			if err != nil {
				return false, err
			}
			v, err := r.cond(a[0])
			return !v, err
		case "Fn::And", "Fn::Or":
			a, ok := arg.([]any)
			if !ok || len(a) == 0 {
				return false, fmt.Errorf("%s takes a list of conditions", name)
			}
			and := name == "Fn::And"
			for _, c := range a {
				v, err := r.cond(c)
				if err != nil {
					return false, err
				}
				if v != and {
					return v, nil
				}
			}
			return and, nil
		}
	}
	v, err := r.eval(expr)
	if err != nil {
		return false, err
	}
	s, err := scalarString(v)
	if err != nil {
		return false, fmt.Errorf("condition: %w", err)
	}
	switch strings.ToLower(s) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("condition value %q is neither true nor false", s)
}
