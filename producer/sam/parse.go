package sam

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/dindbundler/dindbundler/internal/userfile"
)

// Resource types this package reads; every other type is not a function and is ignored.
const (
	typeFunction        = "AWS::Serverless::Function"
	typeLambdaFunction  = "AWS::Lambda::Function"
	typeLayer           = "AWS::Serverless::LayerVersion"
	typeLambdaLayer     = "AWS::Lambda::LayerVersion"
	defaultParseStack   = "sam-app" // stack name for Parse, which has no file name to derive one from
	localCodeHint       = "point CodeUri at a local directory, .zip or .jar"
	localLayerHint      = "point %s at a local directory or .zip"
	offlineLayerAdvice  = "map its ARN to a local directory or .zip with LAYER_MAP (ARN=path, comma separated, or a file of such lines), or define the layer in this template as AWS::Serverless::LayerVersion with a local ContentUri and reference it with !Ref"
	architectureDefault = "x86_64"
)

// ParseFile reads the SAM template at path, parses it like Parse (relative URIs resolve against
// the template's directory, the stack name defaults to the file's stem) and checks that every local
// path it names exists: CodeUri, ContentUri/Content, Metadata.DockerContext and Metadata.Dockerfile.
func ParseFile(path string, opts Options) (*Template, error) {
	data, err := userfile.ReadFile("TEMPLATE", path)
	if err != nil {
		return nil, fmt.Errorf("read SAM template %s: %w", path, err)
	}
	if opts.StackName == "" {
		opts.StackName = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	t, err := parse(data, filepath.Dir(path), opts, os.Stat)
	if err != nil {
		return nil, fmt.Errorf("parse SAM template %s: %w", path, err)
	}
	t.Path = path
	return t, nil
}

// Parse parses a SAM template held in memory. dir is the directory relative URIs resolve against.
// Parse does not touch the filesystem, so it cannot tell whether local paths exist; ParseFile can.
// Errors about one resource are *ResourceError; when several functions are unusable the error
// joins one *ResourceError per function (errors.As finds the first).
func Parse(data []byte, dir string, opts Options) (*Template, error) {
	return parse(data, dir, opts, nil)
}

type statFunc func(string) (fs.FileInfo, error)

type parser struct {
	dir      string
	r        *resolver
	stat     statFunc // nil: do not check local paths
	globals  map[string]any
	layers   map[string]layerResult
	layerMap map[string]string // LAYER_MAP: published layer ARN → local content
	warnings []string
}

type layerResult struct {
	layer Layer
	err   error
}

func parse(data []byte, dir string, opts Options, stat statFunc) (*Template, error) {
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolve template directory %s: %w", dir, err)
	}
	doc, yamlWarnings, err := decodeYAML(data)
	if err != nil {
		return nil, fmt.Errorf("read YAML: %w", err)
	}
	top, ok := doc.(map[string]any)
	if !ok {
		return nil, errors.New("template must be a mapping with a Resources section")
	}
	resources, ok := top["Resources"].(map[string]any)
	if !ok || len(resources) == 0 {
		return nil, errors.New("template has no Resources: a SAM template needs a Resources mapping with at least one resource")
	}
	params, values, err := parameters(top["Parameters"], opts.ParameterOverrides)
	if err != nil {
		return nil, err
	}
	conditions, err := section(top, "Conditions")
	if err != nil {
		return nil, err
	}
	mappings, err := section(top, "Mappings")
	if err != nil {
		return nil, err
	}
	globals, err := functionGlobals(top["Globals"])
	if err != nil {
		return nil, err
	}
	types := resourceTypes(resources, globals)
	p := &parser{
		dir:      absDir,
		r:        newResolver(params, pseudoParams(opts, defaultParseStack), conditions, mappings, types),
		stat:     stat,
		layers:   map[string]layerResult{},
		layerMap: opts.LayerMap,
	}
	p.globals = globals

	ids := slices.Sorted(maps.Keys(resources))
	var errs []error
	var fnIDs []string
	for _, id := range ids {
		res, ok := resources[id].(map[string]any)
		if !ok {
			errs = append(errs, &ResourceError{Resource: id, Reason: "a resource must be a mapping with Type and Properties"})
			continue
		}
		// A resource without a string Type is not a function; SAM ignores it too.
		typ, _ := res["Type"].(string)
		switch typ {
		case typeFunction, typeLambdaFunction:
			fnIDs = append(fnIDs, id)
		case typeLayer, typeLambdaLayer:
			l, err := p.layer(id, typ, res)
			p.layers[id] = layerResult{layer: l, err: err}
		}
	}

	t := &Template{Dir: absDir, Parameters: values, Functions: []Function{}, Layers: map[string]Layer{}}
	for id, lr := range p.layers {
		if lr.err == nil {
			t.Layers[id] = lr.layer
		}
	}
	for _, id := range fnIDs {
		f, skip, err := p.function(id, resources[id].(map[string]any))
		switch {
		case err != nil:
			errs = appendUnique(errs, err)
		case !skip:
			applyEnvVars(&f, opts.EnvVars)
			t.Functions = append(t.Functions, f)
		}
	}
	p.provisioned(t, resources, ids)
	t.Warnings = append(yamlWarnings, p.warnings...)
	if w := p.r.placeholderWarning(); w != "" {
		t.Warnings = append(t.Warnings, w)
	}
	switch len(errs) {
	case 0:
		return t, nil
	case 1:
		return nil, errs[0]
	}
	return nil, errors.Join(errs...)
}

// appendUnique skips an error already collected: several functions can share one broken layer.
func appendUnique(errs []error, err error) []error {
	for _, e := range errs {
		if e == err {
			return errs
		}
	}
	return append(errs, err)
}

func section(top map[string]any, name string) (map[string]any, error) {
	v, ok := top[name]
	if !ok || v == nil {
		return map[string]any{}, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s must be a mapping", name)
	}
	return m, nil
}

// parameters reads the Parameters section and applies the overrides. It returns the resolver's
// view and the resolved values for Template.Parameters.
func parameters(v any, overrides map[string]string) (map[string]paramInfo, map[string]string, error) {
	decl := map[string]any{}
	if v != nil {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, nil, errors.New("Parameters must be a mapping")
		}
		decl = m
	}
	params := map[string]paramInfo{}
	values := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(decl)) {
		def, ok := decl[name].(map[string]any)
		if !ok {
			return nil, nil, fmt.Errorf("parameter %s must be a mapping with Type and optional Default", name)
		}
		typ, _ := def["Type"].(string)
		p := paramInfo{list: typ == "CommaDelimitedList" || strings.HasPrefix(typ, "List<")}
		if d, ok := def["Default"]; ok && d != nil {
			s, err := defaultString(d)
			if err != nil {
				return nil, nil, fmt.Errorf("parameter %s Default: %w", name, err)
			}
			p.value, p.hasVal = s, true
		}
		params[name] = p
	}
	for _, name := range slices.Sorted(maps.Keys(overrides)) {
		p, ok := params[name]
		if !ok {
			declared := slices.Sorted(maps.Keys(decl))
			if len(declared) == 0 {
				declared = []string{"none"}
			}
			return nil, nil, fmt.Errorf("PARAMETER_OVERRIDES sets %s, but the template declares no such parameter (declared: %s): remove it or fix its name",
				name, strings.Join(declared, ", "))
		}
		p.value, p.hasVal = overrides[name], true
		params[name] = p
	}
	for name, p := range params {
		if p.hasVal {
			values[name] = p.value
		}
	}
	return params, values, nil
}

func defaultString(v any) (string, error) {
	if l, ok := v.([]any); ok {
		// A list Default is how a List parameter is sometimes written; CloudFormation wants "a,b".
		parts := make([]string, 0, len(l))
		for _, e := range l {
			s, err := scalarString(e)
			if err != nil {
				return "", err
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, ","), nil
	}
	if _, _, ok := intrinsic(v); ok {
		return "", errors.New("a Default cannot use intrinsic functions")
	}
	return scalarString(v)
}

// functionGlobals returns Globals.Function (nil when absent).
func functionGlobals(v any) (map[string]any, error) {
	if v == nil {
		return nil, nil
	}
	g, ok := v.(map[string]any)
	if !ok {
		return nil, &ResourceError{Resource: "Globals", Reason: "Globals must be a mapping of resource kinds (Function, Api, ...)"}
	}
	f, ok := g["Function"]
	if !ok || f == nil {
		return nil, nil
	}
	m, ok := f.(map[string]any)
	if !ok || isIntrinsic(m) {
		return nil, &ResourceError{Resource: "Globals", Property: "Function", Reason: "Globals.Function must be a mapping of function properties"}
	}
	return m, nil
}

func isIntrinsic(v any) bool {
	_, _, ok := intrinsic(v)
	return ok
}

// mergeGlobal merges a Globals value into a function's value exactly as samtranslator does
// (plugins/globals/globals.py, GlobalProperties._do_merge): two plain mappings merge key by key,
// recursively (Environment.Variables per variable); two lists concatenate, global items first
// (Layers); anything else — scalars, intrinsic functions, mismatched kinds, a null — is replaced
// by the function's value. Values are never mutated: decoded data may be shared through YAML
// aliases, which is also why the merge counts against the evaluation budget.
func (p *parser) mergeGlobal(global, local any) (any, error) {
	p.r.steps++
	if p.r.steps > evalBudget {
		return nil, errors.New("template is too complex to evaluate")
	}
	if gl, ok := global.([]any); ok {
		if ll, ok := local.([]any); ok {
			p.r.steps += len(gl) + len(ll)
			return append(append(make([]any, 0, len(gl)+len(ll)), gl...), ll...), nil
		}
		return local, nil
	}
	gm, gok := global.(map[string]any)
	lm, lok := local.(map[string]any)
	if !gok || !lok || isIntrinsic(gm) || isIntrinsic(lm) {
		return local, nil
	}
	p.r.steps += len(gm) + len(lm)
	if p.r.steps > evalBudget {
		return nil, errors.New("template is too complex to evaluate")
	}
	out := make(map[string]any, len(gm)+len(lm))
	for k, v := range gm {
		out[k] = v
	}
	for k, v := range lm {
		if g, ok := gm[k]; ok {
			m, err := p.mergeGlobal(g, v)
			if err != nil {
				return nil, err
			}
			out[k] = m
		} else {
			out[k] = v
		}
	}
	return out, nil
}

// resourceCondition evaluates a resource's Condition attribute: false means the resource is not
// created, so there is nothing to build.
func (p *parser) resourceCondition(id string, res map[string]any) (bool, error) {
	c, ok := res["Condition"]
	if !ok || c == nil {
		return true, nil
	}
	name, ok := c.(string)
	if !ok {
		return false, &ResourceError{Resource: id, Property: "Condition", Reason: "Condition must name an entry of Conditions"}
	}
	v, err := p.r.condition(name)
	if err != nil {
		return false, &ResourceError{Resource: id, Property: "Condition", Reason: err.Error()}
	}
	return v, nil
}

// properties merges Globals.Function into the function's Properties, honouring IgnoreGlobals.
// Globals apply to AWS::Serverless::Function only.
func (p *parser) properties(id string, res map[string]any) (map[string]any, error) {
	props := map[string]any{}
	if v, ok := res["Properties"]; ok && v != nil {
		m, ok := v.(map[string]any)
		if !ok || isIntrinsic(m) {
			return nil, &ResourceError{Resource: id, Property: "Properties", Reason: "Properties must be a mapping"}
		}
		props = m
	}
	if p.globals == nil || res["Type"] != typeFunction {
		return props, nil
	}
	ignored := map[string]bool{}
	switch ig := res["IgnoreGlobals"].(type) {
	case nil:
	case string:
		if ig != "*" {
			return nil, &ResourceError{Resource: id, Property: "IgnoreGlobals", Reason: `IgnoreGlobals must be "*" or a list of property names`}
		}
		return props, nil
	case []any:
		for _, e := range ig {
			s, ok := e.(string)
			if !ok {
				return nil, &ResourceError{Resource: id, Property: "IgnoreGlobals", Reason: "IgnoreGlobals must list property names"}
			}
			ignored[s] = true
		}
	default:
		return nil, &ResourceError{Resource: id, Property: "IgnoreGlobals", Reason: `IgnoreGlobals must be "*" or a list of property names`}
	}
	out := make(map[string]any, len(props)+len(p.globals))
	for k, v := range p.globals {
		if !ignored[k] {
			out[k] = v
		}
	}
	for _, k := range slices.Sorted(maps.Keys(props)) {
		g, ok := out[k]
		if !ok {
			out[k] = props[k]
			continue
		}
		m, err := p.mergeGlobal(g, props[k])
		if err != nil {
			return nil, &ResourceError{Resource: id, Property: k, Reason: "merge Globals.Function: " + err.Error()}
		}
		out[k] = m
	}
	return out, nil
}

// function reads one AWS::Serverless::Function or AWS::Lambda::Function. skip is true when its
// Condition is false.
func (p *parser) function(id string, res map[string]any) (f Function, skip bool, err error) {
	on, err := p.resourceCondition(id, res)
	if err != nil || !on {
		return Function{}, true, err
	}
	props, err := p.properties(id, res)
	if err != nil {
		return Function{}, false, err
	}
	fail := func(prop string, err error) (Function, bool, error) {
		var re *ResourceError
		if errors.As(err, &re) {
			return Function{}, false, err
		}
		return Function{}, false, &ResourceError{Resource: id, Property: prop, Reason: err.Error()}
	}
	lambda := res["Type"] == typeLambdaFunction
	f = Function{LogicalID: id, PackageType: PackageZip, Architecture: architectureDefault}

	if s, ok, err := p.r.optStr(props["PackageType"]); err != nil {
		return fail("PackageType", err)
	} else if ok {
		if s != PackageZip && s != PackageImage {
			return fail("PackageType", fmt.Errorf("PackageType %q is not Zip or Image", s))
		}
		f.PackageType = s
	}
	name, ok, err := p.r.optStr(props["FunctionName"])
	if err != nil {
		return fail("FunctionName", err)
	}
	f.Name = id
	if ok {
		f.Name = name
	}
	if f.Architecture, err = p.architecture(props["Architectures"]); err != nil {
		return fail("Architectures", err)
	}
	if f.Environment, err = p.environment(id, props["Environment"]); err != nil {
		return fail("Environment", err)
	}
	p.runtimeSettings(id, props, &f) // events.go: what the stack's runtime config needs
	// AWS::Lambda::Function keeps its code in Code: a local path (as `sam package` takes it),
	// {ZipFile: inline}, {ImageUri: x} or S3.
	codeProp, uri, inline, imageURI := "CodeUri", props["CodeUri"], props["InlineCode"], props["ImageUri"]
	if lambda {
		codeProp, uri, inline, imageURI = "Code", props["Code"], nil, nil
		m, isMap := uri.(map[string]any)
		switch {
		case isMap && !isIntrinsic(m) && m["ZipFile"] != nil:
			uri, inline = nil, m["ZipFile"]
		case isMap && !isIntrinsic(m) && m["ImageUri"] != nil:
			uri, imageURI = nil, m["ImageUri"]
		case uri == nil || isMap && !isIntrinsic(m):
			// No Code, or code in S3: nothing local to build. sam build skips such a function
			// too; before this package read AWS::Lambda::Function at all, it was ignored.
			p.warnings = append(p.warnings, fmt.Sprintf("function %s (AWS::Lambda::Function) has no local Code (a path, ZipFile or ImageUri with Metadata): not built", id))
			return Function{}, true, nil
		}
	}

	if f.PackageType == PackageImage {
		if err := p.image(id, res, imageURI, &f); err != nil {
			return fail("ImageUri", err)
		}
		if err := p.imageConfig(id, props["ImageConfig"], &f); err != nil {
			return fail("ImageConfig", err)
		}
		return f, false, nil
	}
	if err := p.code(id, codeProp, uri, inline, lambda, &f); err != nil {
		return fail(codeProp, err)
	}
	for _, prop := range []struct {
		name string
		dst  *string
	}{{"Runtime", &f.Runtime}, {"Handler", &f.Handler}} {
		s, ok, err := p.r.optStr(props[prop.name])
		if err != nil {
			return fail(prop.name, err)
		}
		if !ok || s == "" {
			return fail(prop.name, fmt.Errorf("%s is required for a Zip function: set it on the function or in Globals.Function", prop.name))
		}
		*prop.dst = s
	}
	if f.Layers, err = p.functionLayers(id, props["Layers"]); err != nil {
		return fail("Layers", err)
	}
	if f.BuildMethod, f.BuildProperties, _, err = p.buildMetadata(id, res); err != nil {
		return fail("Metadata", err)
	}
	return f, false, nil
}

// imageConfig reads ImageConfig (EntryPoint, Command, WorkingDirectory) of an Image function:
// Lambda applies it over the image's own ENTRYPOINT, CMD and WORKDIR.
func (p *parser) imageConfig(id string, v any, f *Function) error {
	m, err := p.plainMap(v, "ImageConfig")
	if err != nil || m == nil {
		return err
	}
	list := func(key string) ([]string, error) {
		x, ok := m[key]
		if !ok || x == nil {
			return nil, nil
		}
		y, err := p.r.eval(x)
		if err != nil {
			return nil, err
		}
		if y == noValue {
			return nil, nil
		}
		if one, isStr := y.(string); isStr {
			y = []any{one} // Lambda wants a list; one string is read as a list of one
		}
		l, ok := y.([]any)
		if !ok {
			return nil, fmt.Errorf("ImageConfig.%s must be a list of strings, got %s", key, describe(y))
		}
		out := make([]string, 0, len(l))
		for _, e := range l {
			s, err := scalarString(e)
			if err != nil {
				return nil, fmt.Errorf("ImageConfig.%s: %w", key, err)
			}
			out = append(out, s)
		}
		return out, nil
	}
	if f.ImageEntryPoint, err = list("EntryPoint"); err != nil {
		return &ResourceError{Resource: id, Property: "ImageConfig.EntryPoint", Reason: err.Error()}
	}
	if f.ImageCommand, err = list("Command"); err != nil {
		return &ResourceError{Resource: id, Property: "ImageConfig.Command", Reason: err.Error()}
	}
	wd, _, err := p.r.optStr(m["WorkingDirectory"])
	if err != nil {
		return &ResourceError{Resource: id, Property: "ImageConfig.WorkingDirectory", Reason: err.Error()}
	}
	f.ImageWorkingDirectory = wd
	return nil
}

func (p *parser) architecture(v any) (string, error) {
	if v == nil {
		return architectureDefault, nil
	}
	x, err := p.r.eval(v)
	if err != nil {
		return "", err
	}
	if x == noValue {
		return architectureDefault, nil
	}
	one := x
	if l, ok := x.([]any); ok && len(l) == 1 {
		one = l[0]
	}
	// A single string (e.g. !Ref of a String parameter) is accepted as a one-item list, as SAM does.
	if s, _ := one.(string); s == "x86_64" || s == "arm64" {
		return s, nil
	}
	return "", fmt.Errorf("Architectures must be [x86_64] or [arm64], got %s", describe(x))
}

// describe renders a decoded value briefly for error messages.
func describe(v any) string {
	switch v := v.(type) {
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = describe(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		return "a mapping"
	case nil:
		return "nothing"
	}
	s, err := scalarString(v)
	if err != nil {
		return "?"
	}
	return s
}

// environment reads Environment.Variables. Plain strings are kept as written: "${VAR}" is a
// placeholder for the stack's .env, not a Fn::Sub. Intrinsic values are resolved; what needs a
// deployed stack gets its offline placeholder (offline.go).
func (p *parser) environment(id string, v any) (map[string]string, error) {
	if v == nil {
		return nil, nil
	}
	env, err := p.plainMap(v, "Environment")
	if err != nil || env == nil {
		return nil, err
	}
	vv, ok := env["Variables"]
	if !ok || vv == nil {
		return nil, nil
	}
	vars, err := p.plainMap(vv, "Environment.Variables")
	if err != nil {
		return nil, &ResourceError{Resource: id, Property: "Environment.Variables", Reason: err.Error()}
	}
	if vars == nil {
		return nil, nil
	}
	out := make(map[string]string, len(vars))
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		prop := "Environment.Variables." + k
		switch val := vars[k].(type) {
		case string:
			out[k] = val
		case number:
			out[k] = string(val)
		case bool:
			out[k] = fmt.Sprint(val)
		case nil:
			// "NAME:" with no value: an empty variable, as YAML wrote it.
			out[k] = ""
		default:
			if !isIntrinsic(val) {
				return nil, &ResourceError{Resource: id, Property: prop, Reason: "an environment variable must be a single value, not a list or mapping"}
			}
			p.r.blankParams = true
			s, ok, err := p.r.optStr(val)
			p.r.blankParams = false
			if err != nil {
				return nil, &ResourceError{Resource: id, Property: prop, Reason: err.Error()}
			}
			if ok {
				out[k] = s
			}
		}
	}
	return out, nil
}

// plainMap evaluates v when it is an intrinsic (e.g. !If) and requires a mapping; AWS::NoValue
// gives nil.
func (p *parser) plainMap(v any, what string) (map[string]any, error) {
	if v == nil {
		return nil, nil
	}
	if isIntrinsic(v) {
		x, err := p.r.eval(v)
		if err != nil {
			return nil, err
		}
		if x == noValue || x == nil {
			return nil, nil
		}
		v = x
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s must be a mapping", what)
	}
	return m, nil
}

// code reads the code of a Zip function: CodeUri or InlineCode (Code of an AWS::Lambda::Function,
// prop names it). A Serverless function without either has its code in the template's directory,
// as `sam build` takes it (CodeUri defaults to "."). A single file that is not an archive is the
// whole package: `sam package` zips it alone, so Lambda finds it at the package's root.
func (p *parser) code(id, prop string, rawURI, rawInline any, lambda bool, f *Function) error {
	// Evaluate first so "!If [Cond, ..., !Ref AWS::NoValue]" can pick one of the two; a path
	// takes no placeholder.
	p.r.strict = true
	uri, err := p.optional(rawURI)
	p.r.strict = false
	if err != nil {
		return &ResourceError{Resource: id, Property: prop, Reason: err.Error()}
	}
	inline, err := p.optional(rawInline)
	if err != nil {
		return &ResourceError{Resource: id, Property: "InlineCode", Reason: err.Error()}
	}
	if uri != nil && inline != nil {
		return &ResourceError{Resource: id, Property: "InlineCode", Reason: "set either CodeUri or InlineCode, not both (Globals.Function counts too)"}
	}
	if inline != nil {
		s, err := p.r.str(inline)
		if err != nil {
			return &ResourceError{Resource: id, Property: "InlineCode", Reason: err.Error()}
		}
		f.CodeKind, f.InlineCode = CodeInline, s
		return nil
	}
	if uri == nil {
		if lambda {
			return &ResourceError{Resource: id, Property: prop, Reason: "the function has no Code: set Code to a local directory, .zip or .jar, or {ZipFile: inline code}"}
		}
		uri = "."
	}
	path, err := p.localURI(uri, localCodeHint)
	if err != nil {
		return &ResourceError{Resource: id, Property: prop, Reason: err.Error()}
	}
	f.CodeURI = path
	switch strings.ToLower(filepath.Ext(path)) {
	case ".zip":
		f.CodeKind = CodeZip
	case ".jar":
		f.CodeKind = CodeJar
	default:
		f.CodeKind = CodeDir
	}
	if p.stat != nil && f.CodeKind == CodeDir {
		if fi, err := p.stat(path); err == nil && !fi.IsDir() {
			f.CodeKind = CodeFile
		}
	}
	if err := p.checkPath(path, f.CodeKind == CodeDir); err != nil {
		return &ResourceError{Resource: id, Property: prop, Reason: err.Error() + ": " + localCodeHint}
	}
	return nil
}

// optional evaluates an intrinsic property value; AWS::NoValue counts as absent (nil).
func (p *parser) optional(v any) (any, error) {
	if !isIntrinsic(v) {
		return v, nil
	}
	x, err := p.r.eval(v)
	if err != nil || x == noValue {
		return nil, err
	}
	return x, nil
}

// localURI resolves a CodeUri/ContentUri/Content value to an absolute local path. S3 locations
// are rejected: the build runs offline and has no credentials.
func (p *parser) localURI(v any, hint string) (string, error) {
	if !isIntrinsic(v) {
		if m, ok := v.(map[string]any); ok {
			return "", s3Error(m, hint)
		}
	}
	p.r.strict = true
	x, err := p.r.eval(v)
	p.r.strict = false
	if err != nil {
		return "", err
	}
	if m, ok := x.(map[string]any); ok {
		return "", s3Error(m, hint)
	}
	s, err := scalarString(x)
	if err != nil {
		return "", err
	}
	switch {
	case s == "":
		return "", errors.New("the path is empty: " + hint)
	case strings.HasPrefix(strings.ToLower(s), "s3://"):
		return "", fmt.Errorf("code in S3 (%s) cannot be built offline: %s", s, hint)
	case strings.Contains(s, "://"):
		return "", fmt.Errorf("remote code (%s) cannot be built offline: %s", s, hint)
	}
	if !filepath.IsAbs(s) {
		s = filepath.Join(p.dir, s)
	}
	return filepath.Clean(s), nil
}

func s3Error(m map[string]any, hint string) error {
	bucket, _ := scalarString(first(m, "Bucket", "S3Bucket"))
	key, _ := scalarString(first(m, "Key", "S3Key"))
	if bucket != "" || key != "" {
		return fmt.Errorf("code in S3 (bucket %q, key %q) cannot be built offline: %s", bucket, key, hint)
	}
	return fmt.Errorf("a mapping describes code in S3, which cannot be built offline: %s", hint)
}

func first(m map[string]any, keys ...string) any {
	for _, k := range keys {
		if v, ok := m[k]; ok {
			return v
		}
	}
	return nil
}

// checkPath is ParseFile's existence check; Parse skips it.
func (p *parser) checkPath(path string, wantDir bool) error {
	if p.stat == nil {
		return nil
	}
	fi, err := p.stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("local path %s does not exist (relative paths resolve against %s)", path, p.dir)
	case err != nil:
		return fmt.Errorf("check local path: %w", err)
	case !fi.IsDir() && !fi.Mode().IsRegular():
		// A pipe would block the build, a device ship endless or no code.
		return userfile.CheckInfo("local path", path, fi)
	case wantDir && !fi.IsDir():
		return fmt.Errorf("local path %s is not a directory", path)
	case !wantDir && fi.IsDir():
		return fmt.Errorf("local path %s is a directory, not a file", path)
	}
	return nil
}

// image reads an Image function: built from Metadata (Dockerfile, DockerContext) or a prebuilt
// ImageUri. Metadata wins, as in sam build.
func (p *parser) image(id string, res map[string]any, imageURI any, f *Function) error {
	meta, _ := res["Metadata"].(map[string]any)
	if meta["Dockerfile"] != nil || meta["DockerContext"] != nil {
		return p.imageMetadata(id, meta, f)
	}
	uri, ok, err := p.r.optStr(imageURI)
	if err != nil {
		return &ResourceError{Resource: id, Property: "ImageUri", Reason: err.Error()}
	}
	if !ok || uri == "" {
		return &ResourceError{Resource: id, Property: "ImageUri",
			Reason: "an Image function needs Metadata.Dockerfile and Metadata.DockerContext to build it, or a prebuilt ImageUri"}
	}
	f.ImageURI = uri
	return nil
}

func (p *parser) imageMetadata(id string, meta map[string]any, f *Function) error {
	get := func(key string) (string, error) {
		p.r.strict = true
		s, ok, err := p.r.optStr(meta[key])
		p.r.strict = false
		if err != nil {
			return "", &ResourceError{Resource: id, Property: "Metadata." + key, Reason: err.Error()}
		}
		if !ok || s == "" {
			return "", &ResourceError{Resource: id, Property: "Metadata." + key,
				Reason: "building an Image function needs both Metadata.Dockerfile and Metadata.DockerContext"}
		}
		return s, nil
	}
	df, err := get("Dockerfile")
	if err != nil {
		return err
	}
	ctx, err := get("DockerContext")
	if err != nil {
		return err
	}
	if !filepath.IsAbs(ctx) {
		ctx = filepath.Join(p.dir, ctx)
	}
	f.Dockerfile, f.DockerContext = df, filepath.Clean(ctx)
	if err := p.checkPath(f.DockerContext, true); err != nil {
		return &ResourceError{Resource: id, Property: "Metadata.DockerContext", Reason: err.Error()}
	}
	dfPath := df
	if !filepath.IsAbs(dfPath) {
		dfPath = filepath.Join(f.DockerContext, df)
	}
	if err := p.checkPath(dfPath, false); err != nil {
		return &ResourceError{Resource: id, Property: "Metadata.Dockerfile", Reason: err.Error()}
	}
	if _, has := meta["DockerTag"]; has {
		tag, _, err := p.r.optStr(meta["DockerTag"])
		if err != nil {
			return &ResourceError{Resource: id, Property: "Metadata.DockerTag", Reason: err.Error()}
		}
		f.DockerTag = tag
	}
	if v, has := meta["DockerBuildArgs"]; has && v != nil {
		args, ok := v.(map[string]any)
		if !ok || isIntrinsic(args) {
			return &ResourceError{Resource: id, Property: "Metadata.DockerBuildArgs", Reason: "DockerBuildArgs must be a mapping of names to values"}
		}
		f.DockerBuildArgs = make(map[string]string, len(args))
		for _, k := range slices.Sorted(maps.Keys(args)) {
			s, err := p.r.str(args[k])
			if err != nil {
				return &ResourceError{Resource: id, Property: "Metadata.DockerBuildArgs." + k, Reason: err.Error()}
			}
			f.DockerBuildArgs[k] = s
		}
	}
	return nil
}

// layer reads an AWS::Serverless::LayerVersion (ContentUri) or AWS::Lambda::LayerVersion
// (Content as a local path). Its error is reported only if a function uses the layer.
func (p *parser) layer(id, typ string, res map[string]any) (Layer, error) {
	on, err := p.resourceCondition(id, res)
	if err != nil {
		return Layer{}, err
	}
	if !on {
		return Layer{}, &ResourceError{Resource: id, Property: "Condition", Reason: "the layer's Condition is false, so it is not created"}
	}
	props, ok := res["Properties"].(map[string]any)
	if !ok {
		return Layer{}, &ResourceError{Resource: id, Property: "Properties", Reason: "Properties must be a mapping"}
	}
	prop := "ContentUri"
	if typ == typeLambdaLayer {
		prop = "Content"
	}
	hint := fmt.Sprintf(localLayerHint, prop)
	l := Layer{LogicalID: id, Name: id}
	fail := func(prop string, err error) (Layer, error) {
		return Layer{}, &ResourceError{Resource: id, Property: prop, Reason: err.Error()}
	}
	if l.BuildMethod, l.BuildProperties, l.BuildArchitecture, err = p.buildMetadata(id, res); err != nil {
		return Layer{}, err
	}
	uri := props[prop]
	if uri == nil {
		return fail(prop, errors.New("the layer has no content: "+hint))
	}
	if l.ContentURI, err = p.localURI(uri, hint); err != nil {
		return fail(prop, err)
	}
	isZip := strings.EqualFold(filepath.Ext(l.ContentURI), ".zip")
	if err := p.checkPath(l.ContentURI, !isZip); err != nil {
		return fail(prop, fmt.Errorf("%w: %s", err, hint))
	}
	name, ok, err := p.r.optStr(props["LayerName"])
	if err != nil {
		return fail("LayerName", err)
	}
	if ok {
		l.Name = name
	}
	if v := props["CompatibleRuntimes"]; v != nil {
		x, err := p.r.eval(v)
		if err != nil {
			return fail("CompatibleRuntimes", err)
		}
		if x != noValue {
			list, ok := x.([]any)
			if !ok {
				return fail("CompatibleRuntimes", errors.New("CompatibleRuntimes must be a list of runtimes"))
			}
			for _, e := range list {
				s, err := scalarString(e)
				if err != nil {
					return fail("CompatibleRuntimes", err)
				}
				l.CompatibleRuntimes = append(l.CompatibleRuntimes, s)
			}
		}
	}
	return l, nil
}

// functionLayers resolves a function's Layers: each entry is a !Ref to a layer defined in this
// template, or a published layer's ARN that LAYER_MAP maps to local content (a published layer
// cannot be downloaded offline).
func (p *parser) functionLayers(id string, v any) ([]Layer, error) {
	items, err := p.layerList(v)
	if err != nil {
		return nil, err
	}
	var out []Layer
	seen := map[string]bool{}
	for _, it := range items {
		l, err := p.layerItem(it)
		if err != nil {
			return nil, err
		}
		// Globals and the function may both list a layer: samtranslator keeps both copies,
		// a build needs its content once.
		if l != nil && !seen[l.LogicalID+"|"+l.ARN] {
			seen[l.LogicalID+"|"+l.ARN] = true
			out = append(out, *l)
		}
	}
	return out, nil
}

// layerList unwraps Fn::If and AWS::NoValue around the Layers list.
func (p *parser) layerList(v any) ([]any, error) {
	for depth := 0; ; depth++ {
		if depth > maxDepth {
			return nil, errors.New("Layers is nested too deeply")
		}
		switch name, arg, ok := intrinsic(v); {
		case v == nil:
			return nil, nil
		case ok && name == "Fn::If":
			branch, err := p.r.ifBranch(arg)
			if err != nil {
				return nil, err
			}
			v = branch
			continue
		case ok:
			x, err := p.r.eval(v)
			if err != nil {
				return nil, err
			}
			if x == noValue {
				return nil, nil
			}
			if l, isList := x.([]any); isList {
				// A list parameter or Fn::Split: its items are ARNs, which layerItem rejects.
				return l, nil
			}
			return nil, fmt.Errorf("Layers must be a list, got %s", describe(x))
		}
		l, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("Layers must be a list, got %s", describe(v))
		}
		return l, nil
	}
}

// layerItem resolves one Layers entry; nil means the entry is AWS::NoValue.
func (p *parser) layerItem(v any) (*Layer, error) {
	for depth := 0; ; depth++ {
		if depth > maxDepth {
			return nil, errors.New("Layers entry is nested too deeply")
		}
		name, arg, ok := intrinsic(v)
		if ok && name == "Fn::If" {
			branch, err := p.r.ifBranch(arg)
			if err != nil {
				return nil, err
			}
			v = branch
			continue
		}
		if ok && name == "Ref" {
			if ref, isStr := arg.(string); isStr {
				if lr, found := p.layers[ref]; found {
					if lr.err != nil {
						return nil, lr.err
					}
					l := lr.layer
					return &l, nil
				}
				if typ, isRes := p.r.resources[ref]; isRes {
					return nil, fmt.Errorf("Ref %s points at a %s, not at a layer", ref, typ)
				}
			}
		}
		x, err := p.r.eval(v)
		if err != nil {
			return nil, err
		}
		if x == noValue {
			return nil, nil
		}
		arn, err := scalarString(x)
		if err != nil {
			return nil, fmt.Errorf("a Layers entry must be a layer ARN or a !Ref to a layer: %w", err)
		}
		path, ok := mappedLayer(p.layerMap, arn)
		if !ok {
			return nil, fmt.Errorf("layer %s cannot be fetched offline: %s", arn, offlineLayerAdvice)
		}
		isZip := strings.EqualFold(filepath.Ext(path), ".zip")
		if err := p.checkPath(path, !isZip); err != nil {
			return nil, fmt.Errorf("LAYER_MAP maps layer %s to %s: %w", arn, path, err)
		}
		return &Layer{ARN: arn, Name: arn, ContentURI: path}, nil
	}
}
