package sam

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/matryer/is"
)

// dir is where relative URIs of inline templates resolve; Parse never looks at it.
const dir = "/tpl"

func parseString(t *testing.T, src string, opts Options) (*Template, error) {
	t.Helper()
	return Parse([]byte(src), dir, opts)
}

func parseTestdata(t *testing.T, name string, opts Options) *Template {
	t.Helper()
	is := is.New(t)
	data, err := os.ReadFile(filepath.Join("testdata", name))
	is.NoErr(err)
	tpl, err := Parse(data, dir, opts)
	is.NoErr(err) // testdata template parses
	return tpl
}

// resourceError requires err to carry a *ResourceError for resource and property whose message
// contains want.
func resourceError(t *testing.T, err error, resource, property, want string) {
	t.Helper()
	is := is.New(t)
	var re *ResourceError
	is.True(errors.As(err, &re)) // the error names a resource
	is.Equal(re.Resource, resource)
	is.Equal(re.Property, property)
	if !strings.Contains(re.Error(), want) {
		t.Fatalf("error %q does not contain %q", re.Error(), want)
	}
}

func TestDecodeShortTags(t *testing.T) {
	tests := []struct {
		src  string
		want any
	}{
		{"!Ref Stage", map[string]any{"Ref": "Stage"}},
		{"!Ref 123", map[string]any{"Ref": "123"}},
		{`!Sub "${A}-x"`, map[string]any{"Fn::Sub": "${A}-x"}},
		{"!Sub [x, {A: b}]", map[string]any{"Fn::Sub": []any{"x", map[string]any{"A": "b"}}}},
		{"!GetAtt Fn.Arn", map[string]any{"Fn::GetAtt": []any{"Fn", "Arn"}}},
		{"!GetAtt Stack.Outputs.Url", map[string]any{"Fn::GetAtt": []any{"Stack", "Outputs.Url"}}},
		{"!GetAtt [Fn, Arn]", map[string]any{"Fn::GetAtt": []any{"Fn", "Arn"}}},
		{"!If [C, a, b]", map[string]any{"Fn::If": []any{"C", "a", "b"}}},
		{"!Join [',', [a, b]]", map[string]any{"Fn::Join": []any{",", []any{"a", "b"}}}},
		{"!Select [0, [a]]", map[string]any{"Fn::Select": []any{number("0"), []any{"a"}}}},
		{"!FindInMap [M, a, b]", map[string]any{"Fn::FindInMap": []any{"M", "a", "b"}}},
		{"!ImportValue x", map[string]any{"Fn::ImportValue": "x"}},
		{"!Equals [a, b]", map[string]any{"Fn::Equals": []any{"a", "b"}}},
		{"!Not [!Condition C]", map[string]any{"Fn::Not": []any{map[string]any{"Condition": "C"}}}},
		{"!And [a, b]", map[string]any{"Fn::And": []any{"a", "b"}}},
		{"!Or [a, b]", map[string]any{"Fn::Or": []any{"a", "b"}}},
		{"!Condition C", map[string]any{"Condition": "C"}},
		{"!Base64 {Fn::Sub: x}", map[string]any{"Fn::Base64": map[string]any{"Fn::Sub": "x"}}},
		{"!Split [',', 'a,b']", map[string]any{"Fn::Split": []any{",", "a,b"}}},
		{"!Cidr [10.0.0.0/16, 4, 8]", map[string]any{"Fn::Cidr": []any{"10.0.0.0/16", number("4"), number("8")}}},
		{"!GetAZs ''", map[string]any{"Fn::GetAZs": ""}},
		{"[1.0, true, ~, '1']", []any{number("1.0"), true, nil, "1"}},
		{"{a: &x [1], b: *x}", map[string]any{"a": []any{number("1")}, "b": []any{number("1")}}},
		{"{base: &b {x: 1, y: 2}, m: {<<: *b, y: 3}}", map[string]any{
			"base": map[string]any{"x": number("1"), "y": number("2")},
			"m":    map[string]any{"x": number("1"), "y": number("3")},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			is := is.New(t)
			got, _, err := decodeYAML([]byte(tt.src))
			is.NoErr(err)
			is.Equal(got, tt.want)
		})
	}
}

func TestDecodeDuplicateKeyLastWins(t *testing.T) {
	is := is.New(t)
	got, warnings, err := decodeYAML([]byte("a: 1\nb: x\na: 2\n"))
	is.NoErr(err)
	is.Equal(got, map[string]any{"a": number("2"), "b": "x"}) // PyYAML's rule, which sam build follows
	is.Equal(len(warnings), 1)
	is.True(strings.Contains(warnings[0], `line 3: key "a" appears twice`))
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{"a: !Foo x", "unknown tag !Foo"},
		{"a: !GetAtt NoDot", "Resource.Attribute"},
		{"", "template is empty"},
		{"a: [1", "line"},
		{"? [a]\n: b", "mapping keys"},
		{"a: !!set x", "unsupported YAML tag"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			is := is.New(t)
			_, _, err := decodeYAML([]byte(tt.src))
			is.True(err != nil)
			is.True(strings.Contains(err.Error(), tt.want)) // error explains the problem
		})
	}
}

func TestParseAllShortTags(t *testing.T) {
	is := is.New(t)
	tpl := parseTestdata(t, "all_tags.yaml", Options{StackName: "stack"})
	is.Equal(len(tpl.Functions), 1) // the EC2 instance is not a function
	f := tpl.Functions[0]
	is.Equal(f.Name, "stack-dev")
	is.Equal(f.Environment, map[string]string{
		"STAGE":   "dev",
		"JOINED":  "a-dev",
		"FIRST":   "subnet-a",
		"PICK":    "yes-both",
		"MEM":     "256",
		"ENCODED": "aGVsbG8=",
		"SECOND":  "y",
		"EITHER":  "on",
	})
	is.Equal(tpl.Parameters, map[string]string{"Stage": "dev", "Subnets": "subnet-a,subnet-b"})
}

func TestParseJSONTemplate(t *testing.T) {
	is := is.New(t)
	tpl := parseTestdata(t, "template.json", Options{})
	is.Equal(tpl.Functions, []Function{{
		LogicalID:    "JsonFunction",
		Name:         "sam-app-json", // Parse has no file name: the stack is sam-app
		PackageType:  PackageZip,
		Architecture: "x86_64",
		Environment:  map[string]string{"PORT": "8080", "RATIO": "1.50", "ON": "true"},
		CodeURI:      "/tpl/build/app.jar",
		CodeKind:     CodeJar,
		Runtime:      "java21",
		Handler:      "example.Handler::handleRequest",
	}})
}

func TestParseGlobals(t *testing.T) {
	is := is.New(t)
	tpl := parseTestdata(t, "globals.yaml", Options{})
	shared := Layer{LogicalID: "SharedLayer", Name: "SharedLayer", ContentURI: "/tpl/layers/shared", CompatibleRuntimes: []string{"python3.12"}}
	own := Layer{LogicalID: "OwnLayer", Name: "own-layer", ContentURI: "/tpl/layers/own.zip"}
	is.Equal(tpl.Layers, map[string]Layer{"SharedLayer": shared, "OwnLayer": own})
	base := Function{
		PackageType: PackageZip, Architecture: "arm64", CodeURI: "/tpl/src", CodeKind: CodeDir,
		Runtime: "python3.12", Handler: "app.handler",
		Environment: map[string]string{"LOG_LEVEL": "info", "REGION": "global-region"},
	}
	with := func(id string, change func(*Function)) Function {
		f := base
		f.LogicalID, f.Name = id, id
		change(&f)
		return f
	}
	// As samtranslator merges: lists concatenate, global items first; only IgnoreGlobals drops them.
	is.Equal(tpl.Functions, []Function{ // sorted by LogicalID
		with("EmptyLayers", func(f *Function) { f.Layers = []Layer{shared} }), // [] adds nothing
		with("IgnoresLayers", func(f *Function) {}),
		with("Inherits", func(f *Function) { f.Layers = []Layer{shared} }),
		with("OwnLayers", func(f *Function) {
			f.Runtime = "nodejs20.x"        // function scalar wins
			f.Layers = []Layer{shared, own} // global list first, then the function's
			f.Environment = map[string]string{"LOG_LEVEL": "info", "REGION": "function-region", "EXTRA": "${EXTRA}"}
		}),
	})
}

func TestParseGlobalsRules(t *testing.T) {
	const globals = `
Globals:
  Function:
    Runtime: python3.12
    Handler: app.handler
    CodeUri: src
    Timeout: 3
    Environment:
      Variables: {A: global, B: global}
Resources:
  F:
    Type: AWS::Serverless::Function
`
	tests := []struct {
		name  string
		extra string
		check func(is *is.I, f Function)
	}{
		{"env merges per variable", `
    Properties:
      Environment: {Variables: {B: local, C: local}}`, func(is *is.I, f Function) {
			is.Equal(f.Environment, map[string]string{"A": "global", "B": "local", "C": "local"})
		}},
		{"scalar wins", `
    Properties:
      Handler: other.handler
      CodeUri: other.zip`, func(is *is.I, f Function) {
			is.Equal(f.Handler, "other.handler")
			is.Equal(f.CodeURI, "/tpl/other.zip")
			is.Equal(f.CodeKind, CodeZip)
		}},
		{"function list follows the global one", `
    Properties:
      Environment: {Variables: {A: !Join [",", [x, y]]}}`, func(is *is.I, f Function) {
			is.Equal(f.Environment, map[string]string{"A": "x,y", "B": "global"}) // intrinsic replaces
		}},
		{"IgnoreGlobals list", `
    IgnoreGlobals: [Environment]
    Properties: {}`, func(is *is.I, f Function) {
			is.Equal(f.Environment, nil)
			is.Equal(f.Runtime, "python3.12")
		}},
		{"intrinsic environment replaces", `
    Properties:
      Environment: !If [Never, {Variables: {X: "1"}}, !Ref AWS::NoValue]`, func(is *is.I, f Function) {
			is.Equal(f.Environment, nil)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			src := globals + tt.extra + "\nConditions:\n  Never: !Equals [a, b]\n"
			tpl, err := parseString(t, src, Options{})
			is.NoErr(err)
			is.Equal(len(tpl.Functions), 1)
			tt.check(is, tpl.Functions[0])
		})
	}
}

func TestParseParameters(t *testing.T) {
	const src = `
Parameters:
  Stage: {Type: String, Default: dev}
  Name: {Type: String}
  Memory: {Type: Number, Default: 128}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
Mappings:
  Env: {dev: {Level: debug}, prod: {Level: warn}}
Resources:
  F:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: !Sub "${Stage}-fn"
      CodeUri: src
      Handler: h
      Runtime: provided.al2023
      Environment:
        Variables:
          STAGE: !Ref Stage
          LEVEL: !FindInMap [Env, !Ref Stage, Level]
          PROD: !If [IsProd, "yes", "no"]
          MEMORY: !Ref Memory
          REGION: !Ref AWS::Region
          ACCOUNT: !Ref AWS::AccountId
          STACK: !Ref AWS::StackName
          PARTITION: !Ref AWS::Partition
          SUFFIX: !Ref AWS::URLSuffix
          LITERAL: !Sub "${!NotAVar}-${AWS::Region}"
          VARS: !Sub ["${x}-${Stage}", {x: !Ref Memory}]
          DROPPED: !If [IsProd, "prod-only", !Ref AWS::NoValue]
`
	tests := []struct {
		name     string
		opts     Options
		wantName string
		wantEnv  map[string]string
		wantPar  map[string]string
	}{
		{"defaults", Options{}, "dev-fn", map[string]string{
			"STAGE": "dev", "LEVEL": "debug", "PROD": "no", "MEMORY": "128", "REGION": "us-east-1",
			"ACCOUNT": "123456789012", "STACK": "sam-app", "PARTITION": "aws", "SUFFIX": "amazonaws.com",
			"LITERAL": "${NotAVar}-us-east-1", "VARS": "128-dev",
		}, map[string]string{"Stage": "dev", "Memory": "128"}},
		{"overrides and pseudo options", Options{
			ParameterOverrides: map[string]string{"Stage": "prod", "Name": "n"},
			Region:             "cn-north-1", AccountID: "999", StackName: "mystack",
		}, "prod-fn", map[string]string{
			"STAGE": "prod", "LEVEL": "warn", "PROD": "yes", "MEMORY": "128", "REGION": "cn-north-1",
			"ACCOUNT": "999", "STACK": "mystack", "PARTITION": "aws-cn", "SUFFIX": "amazonaws.com.cn",
			"LITERAL": "${NotAVar}-cn-north-1", "VARS": "128-prod", "DROPPED": "prod-only",
		}, map[string]string{"Stage": "prod", "Memory": "128", "Name": "n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			tpl, err := parseString(t, src, tt.opts)
			is.NoErr(err) // Name has no value, but nothing needs it
			f := tpl.Functions[0]
			is.Equal(f.Name, tt.wantName)
			is.Equal(f.Environment, tt.wantEnv)
			is.Equal(tpl.Parameters, tt.wantPar)
		})
	}
}

func TestParseFunctionName(t *testing.T) {
	tests := []struct {
		name, value, want string
	}{
		{"absent", "", "F"},
		{"literal", "FunctionName: plain", "plain"},
		{"ref", "FunctionName: !Ref P", "p-value"},
		{"sub", "FunctionName: !Sub '${AWS::StackName}-${P}'", "sam-app-p-value"},
		{"novalue", "FunctionName: !Ref AWS::NoValue", "F"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			tpl, err := parseString(t, `
Parameters: {P: {Type: String, Default: p-value}}
Resources:
  F:
    Type: AWS::Serverless::Function
    Properties:
      InlineCode: "def h(e, c): pass"
      Handler: index.h
      Runtime: python3.12
      `+tt.value, Options{})
			is.NoErr(err)
			is.Equal(tpl.Functions[0].Name, tt.want)
			is.Equal(tpl.Functions[0].CodeKind, CodeInline)
			is.Equal(tpl.Functions[0].InlineCode, "def h(e, c): pass")
		})
	}
}

func TestParseCodeURI(t *testing.T) {
	tests := []struct {
		uri, wantPath, wantKind string
	}{
		{"src/hello", "/tpl/src/hello", CodeDir},
		{"./src/../build", "/tpl/build", CodeDir},
		{".", "/tpl", CodeDir},
		{"/abs/code", "/abs/code", CodeDir},
		{"dist/app.zip", "/tpl/dist/app.zip", CodeZip},
		{"dist/APP.ZIP", "/tpl/dist/APP.ZIP", CodeZip},
		{"target/app-1.0.jar", "/tpl/target/app-1.0.jar", CodeJar},
		{"!Sub '${Dir}/x'", "/tpl/from-param/x", CodeDir},
	}
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			is := is.New(t)
			tpl, err := parseString(t, `
Parameters: {Dir: {Type: String, Default: from-param}}
Resources:
  F:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: `+tt.uri+`, Handler: h, Runtime: go1.x}
`, Options{})
			is.NoErr(err)
			is.Equal(tpl.Functions[0].CodeURI, tt.wantPath)
			is.Equal(tpl.Functions[0].CodeKind, tt.wantKind)
		})
	}
}

func TestParseCodeChoice(t *testing.T) {
	tests := []struct {
		inline   string
		wantKind string
		wantURI  string
	}{
		{"true", CodeInline, ""},
		{"false", CodeDir, "/tpl/src"},
	}
	for _, tt := range tests {
		t.Run(tt.inline, func(t *testing.T) {
			is := is.New(t)
			tpl, err := parseString(t, `
Parameters: {Inline: {Type: String, Default: "`+tt.inline+`"}}
Conditions: {UseInline: !Equals [!Ref Inline, "true"]}
Resources:
  F:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: !If [UseInline, !Ref AWS::NoValue, src]
      InlineCode: !If [UseInline, "exports.h = async () => 1", !Ref AWS::NoValue]
      Handler: index.h
      Runtime: nodejs20.x
`, Options{})
			is.NoErr(err) // AWS::NoValue removes one of CodeUri and InlineCode
			is.Equal(tpl.Functions[0].CodeKind, tt.wantKind)
			is.Equal(tpl.Functions[0].CodeURI, tt.wantURI)
		})
	}
}

func TestParseImage(t *testing.T) {
	is := is.New(t)
	tpl := parseTestdata(t, "image.yaml", Options{AccountID: "111122223333", Region: "eu-west-1"})
	is.Equal(tpl.Functions, []Function{
		{
			LogicalID: "Built", Name: "Built", PackageType: PackageImage, Architecture: "arm64",
			Dockerfile: "Dockerfile", DockerContext: "/tpl/image", DockerTag: "v1",
			DockerBuildArgs: map[string]string{"GO_VERSION": "1.26", "DEBUG": "true"},
		},
		{
			LogicalID: "Prebuilt", Name: "Prebuilt", PackageType: PackageImage, Architecture: "x86_64",
			ImageURI: "111122223333.dkr.ecr.eu-west-1.amazonaws.com/app:latest",
		},
	})
}

func TestParseLayers(t *testing.T) {
	const layers = `
Conditions:
  Yes: !Equals [a, a]
Resources:
  L:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: layer.zip, LayerName: !Sub "${AWS::StackName}-deps"}
  F:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Handler: h
      Runtime: python3.12
      Layers: [!If [Yes, !Ref L, !Ref AWS::NoValue], !If [Yes, !Ref AWS::NoValue, arn:x]]
`
	is := is.New(t)
	tpl, err := parseString(t, layers, Options{})
	is.NoErr(err)
	want := Layer{LogicalID: "L", Name: "sam-app-deps", ContentURI: "/tpl/layer.zip"}
	is.Equal(tpl.Functions[0].Layers, []Layer{want})
	is.Equal(tpl.Layers, map[string]Layer{"L": want})
}

func TestParseResourceErrors(t *testing.T) {
	fn := func(props string) string {
		return `
Parameters:
  NoDefault: {Type: String}
  LayerArn: {Type: String, Default: "arn:aws:lambda:us-east-1:123:layer:x:1"}
Resources:
  Queue: {Type: AWS::SQS::Queue}
  F:
    Type: AWS::Serverless::Function
    Properties:
` + props + "\n"
	}
	const ok = "      Handler: h\n      Runtime: python3.12\n"
	tests := []struct {
		name, src, resource, property, want string
	}{
		{"S3 string CodeUri", fn("      CodeUri: s3://bucket/app.zip\n" + ok), "F", "CodeUri",
			"code in S3 (s3://bucket/app.zip) cannot be built offline: point CodeUri at a local directory, .zip or .jar"},
		{"S3 map CodeUri", fn("      CodeUri: {Bucket: b, Key: k}\n" + ok), "F", "CodeUri", `bucket "b", key "k"`},
		{"S3 via Sub", fn("      CodeUri: !Sub s3://${AWS::AccountId}/k\n" + ok), "F", "CodeUri", "s3://123456789012/k"},
		{"GetAtt CodeUri", fn("      CodeUri: !GetAtt Queue.Arn\n" + ok), "F", "CodeUri", "Fn::GetAtt Queue.Arn needs a deployed stack"},
		{"empty CodeUri", fn("      CodeUri: ''\n" + ok), "F", "CodeUri", "empty"},
		{"code and inline", fn("      CodeUri: src\n      InlineCode: x\n" + ok), "F", "InlineCode", "not both"},
		{"parameter without value", fn("      CodeUri: !Ref NoDefault\n" + ok), "F", "CodeUri",
			"parameter NoDefault has no value: set it with PARAMETER_OVERRIDES"},
		{"no runtime", fn("      CodeUri: src\n      Handler: h"), "F", "Runtime", "Runtime is required for a Zip function"},
		{"no handler", fn("      CodeUri: src\n      Runtime: go1.x"), "F", "Handler", "Handler is required"},
		{"bad architecture", fn("      CodeUri: src\n      Architectures: [x86_64, arm64]\n" + ok), "F", "Architectures",
			"must be [x86_64] or [arm64], got [x86_64, arm64]"},
		{"bad package type", fn("      PackageType: Tar\n"), "F", "PackageType", `"Tar" is not Zip or Image`},
		{"env list", fn("      CodeUri: src\n" + ok + "      Environment: {Variables: {Q: [a]}}"), "F",
			"Environment.Variables.Q", "single value"},
		{"layer ARN", fn("      CodeUri: src\n" + ok + "      Layers: [arn:aws:lambda:us-east-1:1:layer:x:1]"), "F", "Layers",
			"layer arn:aws:lambda:us-east-1:1:layer:x:1 cannot be fetched offline: map its ARN to a local directory or .zip with LAYER_MAP"},
		{"CodeUri Ref resource", fn("      CodeUri: !Ref Queue\n" + ok), "F", "CodeUri", "Ref to resource Queue (AWS::SQS::Queue) needs a deployed stack"},
		{"layer Ref parameter", fn("      CodeUri: src\n" + ok + "      Layers: [!Ref LayerArn]"), "F", "Layers", "cannot be fetched offline"},
		{"layer Ref other resource", fn("      CodeUri: src\n" + ok + "      Layers: [!Ref Queue]"), "F", "Layers", "not at a layer"},
		{"image without source", fn("      PackageType: Image"), "F", "ImageUri", "Metadata.Dockerfile and Metadata.DockerContext"},
		{"unknown condition", fn("      CodeUri: !If [Nope, a, b]\n" + ok), "F", "CodeUri", "no condition named Nope"},
		{"select out of range", fn("      CodeUri: !Select [3, [a]]\n" + ok), "F", "CodeUri", "outside the list"},
		{"unknown ref", fn("      CodeUri: !Ref Missing\n" + ok), "F", "CodeUri", "no such parameter or resource"},
		{"globals not a map", "Globals: [1]\n" + fn("      CodeUri: src\n"+ok), "Globals", "", "Globals must be a mapping"},
		{"properties not a map", fn("      - x"), "F", "Properties", "must be a mapping"},
		{"resource not a map", "Resources:\n  R: [1]\n", "R", "", "must be a mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl, err := parseString(t, tt.src, Options{})
			if tpl != nil {
				t.Fatalf("got a template, want an error about %s %s", tt.resource, tt.property)
			}
			resourceError(t, err, tt.resource, tt.property, tt.want)
		})
	}
}

func TestParseLayerErrors(t *testing.T) {
	const src = `
Resources:
  S3Layer:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: s3://b/layer.zip}
  LambdaLayer:
    Type: AWS::Lambda::LayerVersion
    Properties: {Content: {S3Bucket: b, S3Key: k}}
  A:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: src, Handler: h, Runtime: go1.x, Layers: [!Ref S3Layer]}
  B:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: src, Handler: h, Runtime: go1.x, Layers: [!Ref S3Layer, !Ref LambdaLayer]}
`
	is := is.New(t)
	_, err := parseString(t, src, Options{})
	// The broken layer is reported once, naming the layer and its property, and errors.As finds it.
	resourceError(t, err, "S3Layer", "ContentUri", "point ContentUri at a local directory or .zip")
	is.Equal(strings.Count(err.Error(), "S3Layer"), 1)

	// A broken layer no function uses does not fail the template; it is left out of Layers.
	tpl, err := parseString(t, "Resources:\n  L:\n    Type: AWS::Lambda::LayerVersion\n    Properties: {Content: {S3Bucket: b, S3Key: k}}\n", Options{})
	is.NoErr(err)
	is.Equal(len(tpl.Layers), 0)
	is.Equal(len(tpl.Functions), 0)
}

func TestParseSeveralErrors(t *testing.T) {
	is := is.New(t)
	_, err := parseString(t, `
Resources:
  B: {Type: AWS::Serverless::Function, Properties: {CodeUri: s3://b/k, Handler: h, Runtime: go1.x}}
  A: {Type: AWS::Serverless::Function, Properties: {CodeUri: src, Handler: h}}
`, Options{})
	var re *ResourceError
	is.True(errors.As(err, &re))
	is.Equal(re.Resource, "A") // errors come in LogicalID order
	is.True(strings.Contains(err.Error(), "resource B property CodeUri"))
}

func TestParseTemplateErrors(t *testing.T) {
	tests := []struct {
		name, src string
		opts      Options
		want      string
	}{
		{"no resources", "Parameters: {}\n", Options{}, "template has no Resources"},
		{"empty resources", "Resources: {}\n", Options{}, "template has no Resources"},
		{"not a mapping", "- a\n", Options{}, "must be a mapping"},
		{"bad yaml", "Resources: [\n", Options{}, "read YAML"},
		{"unknown tag", "Resources:\n  F: !Thing x\n", Options{}, "unknown tag !Thing"},
		{"undeclared override", "Parameters: {A: {Type: String}}\nResources: {Q: {Type: AWS::SQS::Queue}}\n",
			Options{ParameterOverrides: map[string]string{"B": "x"}}, "PARAMETER_OVERRIDES sets B, but the template declares no such parameter (declared: A)"},
		{"condition cycle", "Conditions: {A: !Condition A}\nResources: {F: {Type: AWS::Serverless::Function, Condition: A}}\n",
			Options{}, "depends on itself"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			tpl, err := parseString(t, tt.src, tt.opts)
			is.True(tpl == nil)
			is.True(err != nil)
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestParseZeroFunctions(t *testing.T) {
	is := is.New(t)
	tpl, err := parseString(t, "Resources:\n  Q: {Type: AWS::SQS::Queue}\n  NoType: {Properties: {}}\n", Options{})
	is.NoErr(err)
	is.Equal(tpl.Functions, []Function{})
}

func TestParseResourceCondition(t *testing.T) {
	is := is.New(t)
	tpl, err := parseString(t, `
Parameters: {Deploy: {Type: String, Default: "false"}}
Conditions: {On: !Equals [!Ref Deploy, "true"]}
Resources:
  Off:
    Type: AWS::Serverless::Function
    Condition: On
    Properties: {CodeUri: s3://not/built}
`, Options{})
	is.NoErr(err) // a function whose Condition is false is not created, so its S3 code does not matter
	is.Equal(len(tpl.Functions), 0)
}

func TestParseAliasBomb(t *testing.T) {
	// Each anchor doubles the previous one: a few lines describe 2^40 values. Evaluating or merging
	// them must stop with an error, not run for hours.
	bomb := func(open, item, close string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "B0: &b0 %sa%s\n", open, close)
		for i := 1; i < 40; i++ {
			fmt.Fprintf(&b, "B%d: &b%d %s"+item+"%s\n", i, i, open, i-1, i-1, close)
		}
		return b.String()
	}
	tests := []struct {
		name, src, property string
	}{
		{"join over nested lists", bomb("[", "*b%d, *b%d", "]") +
			"Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties: {CodeUri: !Join ['', *b39], Handler: h, Runtime: go1.x}\n",
			"CodeUri"},
		{"globals merge of nested maps", bomb("{", "x: *b%d, y: *b%d", "}") +
			"Globals: {Function: {Tags: *b39}}\nResources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties: {Tags: *b39}\n",
			"Tags"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseString(t, tt.src, Options{})
			resourceError(t, err, "F", tt.property, "too complex")
		})
	}
}

func TestParseFile(t *testing.T) {
	is := is.New(t)
	path := filepath.Join("testdata", "app", "template.yaml")
	tpl, err := ParseFile(path, Options{})
	is.NoErr(err)
	abs, err := filepath.Abs(filepath.Join("testdata", "app"))
	is.NoErr(err)
	is.Equal(tpl.Path, path)
	is.Equal(tpl.Dir, abs)
	shared := Layer{LogicalID: "Shared", Name: "Shared", ContentURI: filepath.Join(abs, "layers", "shared")}
	is.Equal(tpl.Functions, []Function{
		{LogicalID: "Container", Name: "Container", PackageType: PackageImage, Architecture: "x86_64",
			Dockerfile: "Dockerfile", DockerContext: filepath.Join(abs, "image")},
		{LogicalID: "Hello", Name: "Hello", PackageType: PackageZip, Architecture: "x86_64",
			CodeURI: filepath.Join(abs, "src", "hello"), CodeKind: CodeDir, Runtime: "python3.12",
			Handler: "app.handler", Layers: []Layer{shared}},
	})

	// The stack name defaults to the file's stem.
	tpl, err = parseFileWith(t, "template.yaml", "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties: {FunctionName: !Ref AWS::StackName, InlineCode: x, Handler: h, Runtime: go1.x}\n", nil)
	is.NoErr(err)
	is.Equal(tpl.Functions[0].Name, "template")
}

// parseFileWith writes src as name in a temporary directory with the given files (name →
// content; a name ending in / is a directory) and runs ParseFile.
func parseFileWith(t *testing.T, name, src string, files []string) (*Template, error) {
	t.Helper()
	is := is.New(t)
	d := t.TempDir()
	for _, f := range files {
		p := filepath.Join(d, f)
		if strings.HasSuffix(f, "/") {
			is.NoErr(os.MkdirAll(p, 0o755))
			continue
		}
		is.NoErr(os.MkdirAll(filepath.Dir(p), 0o755))
		is.NoErr(os.WriteFile(p, []byte("x"), 0o644))
	}
	path := filepath.Join(d, name)
	is.NoErr(os.WriteFile(path, []byte(src), 0o644))
	return ParseFile(path, Options{})
}

func TestParseFileMissingPaths(t *testing.T) {
	const zip = "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties: {CodeUri: %s, Handler: h, Runtime: go1.x%s}\n"
	tests := []struct {
		name     string
		src      string
		files    []string
		resource string
		property string
		want     string
	}{
		{"missing dir", fmt.Sprintf(zip, "src", ""), nil, "F", "CodeUri", "does not exist"},
		{"zip is a dir", fmt.Sprintf(zip, "a.zip", ""), []string{"a.zip/"}, "F", "CodeUri", "is a directory"},
		{"missing layer", fmt.Sprintf(zip, "src", ", Layers: [!Ref L]") +
			"  L: {Type: AWS::Serverless::LayerVersion, Properties: {ContentUri: layer}}\n", []string{"src/"}, "L", "ContentUri", "does not exist"},
		{"missing context", "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties: {PackageType: Image}\n    Metadata: {Dockerfile: Dockerfile, DockerContext: img}\n",
			nil, "F", "Metadata.DockerContext", "does not exist"},
		{"missing dockerfile", "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties: {PackageType: Image}\n    Metadata: {Dockerfile: Dockerfile, DockerContext: img}\n",
			[]string{"img/"}, "F", "Metadata.Dockerfile", "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			tpl, err := parseFileWith(t, "template.yaml", tt.src, tt.files)
			is.True(tpl == nil)
			resourceError(t, err, tt.resource, tt.property, tt.want)
			is.True(strings.HasPrefix(err.Error(), "parse SAM template ")) // wrapped with the file
		})
	}
	// Parse does not look at the filesystem: the same template parses.
	is := is.New(t)
	_, err := parseString(t, "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties: {CodeUri: /does/not/exist, Handler: h, Runtime: go1.x}\n", Options{})
	is.NoErr(err)
}

func TestParseFileUnreadable(t *testing.T) {
	is := is.New(t)
	_, err := ParseFile(filepath.Join(t.TempDir(), "missing.yaml"), Options{})
	is.True(errors.Is(err, os.ErrNotExist))
	is.True(strings.Contains(err.Error(), "read SAM template"))
}

// In environment variables a Ref to a resource is its logical ID, as `sam local` resolves it:
// the name is data for the function, and the offline stack names its tables and queues so.
func TestEnvironmentRefToResourceIsItsLogicalID(t *testing.T) {
	is := is.New(t)
	tpl, err := Parse([]byte(`Resources:
  Orders:
    Type: AWS::DynamoDB::Table
  F:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Runtime: python3.12
      Handler: app.handler
      Environment:
        Variables:
          TABLE: !Ref Orders
          QUEUE_URL: !Sub "http://sqs/${Orders}-dlq"
          PLAIN: ${STAGE_URL}
`), "/proj", Options{})
	is.NoErr(err)
	is.Equal(tpl.Functions[0].Environment, map[string]string{"TABLE": "Orders", "QUEUE_URL": "http://sqs/Orders-dlq", "PLAIN": "${STAGE_URL}"})
}

func TestParseTextBomb(t *testing.T) {
	// A few steps over an aliased large scalar describe GBs of text: the produced text is bounded
	// (evalBytesBudget) and the error names the resource and property.
	big := strings.Repeat("x", 512<<10)
	items := strings.TrimSuffix(strings.Repeat("*big, ", 100), ", ")
	subs := strings.Repeat("${A}", 100)
	tests := []struct {
		name, value string
	}{
		{"join", "!Join ['', [" + items + "]]"},
		{"join delimiter", "!Join [*big, [" + strings.Repeat("a, ", 99) + "a]]"},
		{"nested join", "!Join ['', [!Join ['', [" + items + "]], b]]"},
		{"sub", "!Sub ['" + subs + "', {A: *big}]"},
		{"base64 of join", "!Base64 {'Fn::Join': ['', [" + items + "]]}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "Metadata: {Big: &big " + big + "}\nResources:\n  F:\n    Type: AWS::Serverless::Function\n" +
				"    Properties: {CodeUri: ., Handler: h, Runtime: go1.x, Environment: {Variables: {X: " + tt.value + "}}}\n"
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := parseString(t, src, Options{})
			runtime.ReadMemStats(&after)
			resourceError(t, err, "F", "Environment.Variables.X", "more than 16 MB of text")
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 512<<20 {
				t.Fatalf("parsing allocated %d MB", alloc>>20)
			}
		})
	}
}
