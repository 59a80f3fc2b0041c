package sam

import (
	"strings"
	"testing"

	"github.com/matryer/is"
)

// Values that need a deployed stack resolve to placeholders, as sam local gives them, and the
// template lists them in one warning.
func TestParseOfflinePlaceholders(t *testing.T) {
	is := is.New(t)
	const src = `
Resources:
  Table: {Type: AWS::DynamoDB::Table}
  Queue: {Type: AWS::SQS::Queue}
  Topic: {Type: AWS::SNS::Topic}
  Bucket: {Type: AWS::S3::Bucket}
  Machine: {Type: AWS::Serverless::StateMachine}
  Other: {Type: AWS::Custom::Widget}
  F:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: !Sub "${Table}-fn"
      CodeUri: src
      Handler: app.handler
      Runtime: python3.14
      AutoPublishAlias: live
      Events:
        Nightly: {Type: Schedule, Properties: {Schedule: rate(1 day)}}
        Hello: {Type: Api, Properties: {Path: /, Method: get}}
      Environment:
        Variables:
          TABLE: !Ref Table
          TABLE_ARN: !GetAtt Table.Arn
          STREAM: !GetAtt [Table, StreamArn]
          QUEUE_URL: !Ref Queue
          QUEUE_ARN: !Sub "${Queue.Arn}"
          TOPIC: !Ref Topic
          BUCKET: !Ref Bucket
          BUCKET_ARN: !GetAtt Bucket.Arn
          MACHINE: !Ref Machine
          WIDGET: !GetAtt Other.Endpoint
          SELF: !GetAtt F.Arn
          ROLE: !GetAtt FRole.Arn
          ALIAS: !Ref F.Alias
          RULE: !Ref FNightly
          API: !Sub "https://${ServerlessRestApi}.execute-api.${AWS::Region}.amazonaws.com/Prod/"
          HTTP: !Ref ServerlessHttpApi
          STACK: !Ref AWS::StackId
          IMPORTED: !ImportValue shared-vpc
`
	tpl, err := Parse([]byte(src), dir, Options{StackName: "shop"})
	is.NoErr(err)
	f := tpl.Functions[0]
	is.Equal(f.Name, "Table-fn") // a physical name is the logical ID
	is.Equal(f.Environment, map[string]string{
		"TABLE":      "Table",
		"TABLE_ARN":  "arn:aws:dynamodb:us-east-1:123456789012:table/Table",
		"STREAM":     "arn:aws:dynamodb:us-east-1:123456789012:table/Table/stream/1970-01-01T00:00:00.000",
		"QUEUE_URL":  "https://sqs.us-east-1.amazonaws.com/123456789012/Queue",
		"QUEUE_ARN":  "arn:aws:sqs:us-east-1:123456789012:Queue",
		"TOPIC":      "arn:aws:sns:us-east-1:123456789012:Topic",
		"BUCKET":     "Bucket",
		"BUCKET_ARN": "arn:aws:s3:::Bucket",
		"MACHINE":    "arn:aws:states:us-east-1:123456789012:stateMachine:Machine",
		"WIDGET":     "Other.Endpoint",
		"SELF":       "arn:aws:lambda:us-east-1:123456789012:function:F",
		"ROLE":       "arn:aws:iam::123456789012:role/FRole",
		"ALIAS":      "arn:aws:lambda:us-east-1:123456789012:function:F:live",
		"RULE":       "FNightly",
		"API":        "https://ServerlessRestApi.execute-api.us-east-1.amazonaws.com/Prod/",
		"HTTP":       "ServerlessHttpApi",
		"STACK":      "arn:aws:cloudformation:us-east-1:123456789012:stack/shop/00000000-0000-0000-0000-000000000000",
		"IMPORTED":   "shared-vpc",
	})
	is.Equal(len(tpl.Warnings), 1) // one warning per template
	w := tpl.Warnings[0]
	for _, want := range []string{"ENV_VARS_FILE", "Table.Arn=arn:aws:dynamodb", "Fn::ImportValue shared-vpc=shared-vpc", "AWS::StackId=", "F.Alias="} {
		is.True(strings.Contains(w, want)) // the warning lists every placeholder
	}
}

func TestParseNoPlaceholderNoWarning(t *testing.T) {
	is := is.New(t)
	tpl, err := Parse([]byte("Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties: {CodeUri: src, Handler: h, Runtime: python3.12, Environment: {Variables: {A: !Sub '${AWS::Region}'}}}\n"), dir, Options{})
	is.NoErr(err)
	is.Equal(len(tpl.Warnings), 0)
}

func TestParseGetAttUnknownResource(t *testing.T) {
	_, err := Parse([]byte("Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties: {CodeUri: src, Handler: h, Runtime: python3.12, Environment: {Variables: {A: !GetAtt Nope.Arn}}}\n"), dir, Options{})
	resourceError(t, err, "F", "Environment.Variables.A", "no resource Nope")
}

// SAM's defaults: no CodeUri is the template's directory; AWS::Lambda::Function with a local
// Code path or inline ZipFile is a Zip function like any other.
func TestParseCodeDefaultsAndLambdaFunction(t *testing.T) {
	is := is.New(t)
	const src = `
Globals:
  Function: {Runtime: nodejs24.x, Layers: [!Ref L]}
Resources:
  L: {Type: AWS::Serverless::LayerVersion, Properties: {ContentUri: layer}}
  NoCode:
    Type: AWS::Serverless::Function
    Properties: {Handler: app.handler}
  Plain:
    Type: AWS::Lambda::Function
    Properties: {Code: fn/, Handler: index.handler, Runtime: python3.13, Architectures: [arm64], Layers: [!Ref L]}
  Inline:
    Type: AWS::Lambda::Function
    Properties: {Code: {ZipFile: "def handler(e, c): pass"}, Handler: index.handler, Runtime: python3.13}
  Remote:
    Type: AWS::Lambda::Function
    Properties: {Code: {S3Bucket: b, S3Key: k}, Handler: h, Runtime: python3.13}
  Off:
    Type: AWS::Lambda::Function
    Condition: Never
    Properties: {Code: src, Handler: h, Runtime: python3.13}
Conditions:
  Never: !Equals [a, b]
`
	tpl, err := Parse([]byte(src), dir, Options{})
	is.NoErr(err)
	is.Equal(len(tpl.Functions), 3)
	inline, noCode, plain := tpl.Functions[0], tpl.Functions[1], tpl.Functions[2]
	is.Equal(noCode.CodeURI, "/tpl")
	is.Equal(noCode.CodeKind, CodeDir)
	is.Equal(len(noCode.Layers), 1) // Globals apply to Serverless functions
	is.Equal(plain.CodeURI, "/tpl/fn")
	is.Equal(plain.Runtime, "python3.13") // Globals do not apply to AWS::Lambda::Function
	is.Equal(plain.Architecture, "arm64")
	is.Equal(plain.Layers[0].LogicalID, "L")
	is.Equal(inline.CodeKind, CodeInline)
	is.Equal(inline.InlineCode, "def handler(e, c): pass")
	is.Equal(tpl.Warnings, []string{"function Remote (AWS::Lambda::Function) has no local Code (a path, ZipFile or ImageUri with Metadata): not built"}) // S3 code: skipped, as sam build skips it
}

// A single file as CodeUri is the whole package, as `sam package` zips it alone.
func TestParseFileSingleFileCodeUri(t *testing.T) {
	is := is.New(t)
	tpl, err := parseFileWith(t, "template.yaml", "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties: {CodeUri: src/app.py, Handler: app.handler, Runtime: python3.12}\n", []string{"src/app.py"})
	is.NoErr(err)
	f := tpl.Functions[0]
	is.Equal(f.CodeKind, CodeFile)
	is.True(strings.HasSuffix(f.CodeURI, "/src/app.py"))
}

func TestParseImageConfig(t *testing.T) {
	is := is.New(t)
	const src = `
Resources:
  F:
    Type: AWS::Serverless::Function
    Properties:
      PackageType: Image
      Environment: {Variables: {MODE: fast}}
      ImageConfig: {Command: [app.orders], EntryPoint: [/lambda-entrypoint.sh], WorkingDirectory: /var/task/app}
    Metadata: {Dockerfile: Dockerfile, DockerContext: img}
`
	tpl, err := Parse([]byte(src), dir, Options{})
	is.NoErr(err)
	f := tpl.Functions[0]
	is.Equal(f.Environment, map[string]string{"MODE": "fast"})
	is.Equal(f.ImageCommand, []string{"app.orders"})
	is.Equal(f.ImageEntryPoint, []string{"/lambda-entrypoint.sh"})
	is.Equal(f.ImageWorkingDirectory, "/var/task/app")
}

func TestParseLayerMap(t *testing.T) {
	is := is.New(t)
	const src = `
Globals:
  Function:
    Layers: [!Sub "arn:aws:lambda:${AWS::Region}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-x86_64:7"]
Resources:
  F:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: src, Handler: h, Runtime: python3.12, Layers: ["arn:aws:lambda:us-east-1:1:layer:x:3"]}
`
	m, err := ParseLayerMap("arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-x86_64=vendor/powertools, arn:aws:lambda:us-east-1:1:layer:x:3=/abs/x.zip", "/work")
	is.NoErr(err)
	tpl, err := Parse([]byte(src), dir, Options{LayerMap: m})
	is.NoErr(err)
	is.Equal(tpl.Functions[0].Layers, []Layer{
		{ARN: "arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-x86_64:7", Name: "arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-x86_64:7", ContentURI: "/work/vendor/powertools"},
		{ARN: "arn:aws:lambda:us-east-1:1:layer:x:3", Name: "arn:aws:lambda:us-east-1:1:layer:x:3", ContentURI: "/abs/x.zip"},
	})
	for _, bad := range []string{"nolayer=dir", "arn:aws:lambda:us-east-1:1:layer:x:3", "arn:aws:lambda:us-east-1:1:layer:x:3=a,arn:aws:lambda:us-east-1:1:layer:x:3=b"} {
		_, err := ParseLayerMap(bad, "/work")
		is.True(err != nil)
		is.True(strings.Contains(err.Error(), "LAYER_MAP"))
	}
	m, err = ParseLayerMap("# vendored layers, one a line\narn:aws:lambda:us-east-1:1:layer:x:3 = x\r\n\n", "/etc")
	is.NoErr(err)
	is.Equal(m, map[string]string{"arn:aws:lambda:us-east-1:1:layer:x:3": "/etc/x"})
}

func TestEnvVarsOverrides(t *testing.T) {
	is := is.New(t)
	ev, err := ParseEnvVars([]byte(`{"Parameters": {"TABLE": "dev-table", "UNDECLARED": "x", "N": 5},
	  "Orders": {"TABLE": "orders-table", "ON": true}, "named-fn": {"TABLE": "by-name"}}`))
	is.NoErr(err)
	const src = `
Resources:
  Orders:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: src, Handler: h, Runtime: python3.12, Environment: {Variables: {TABLE: !Ref T, ON: "false", N: "1"}}}
  Other:
    Type: AWS::Serverless::Function
    Properties: {FunctionName: named-fn, CodeUri: src, Handler: h, Runtime: python3.12, Environment: {Variables: {TABLE: !Ref T, KEEP: k}}}
  T: {Type: AWS::DynamoDB::Table}
`
	tpl, err := Parse([]byte(src), dir, Options{EnvVars: ev})
	is.NoErr(err)
	is.Equal(tpl.Functions[0].Environment, map[string]string{"TABLE": "orders-table", "ON": "true", "N": "5"}) // function entry wins
	is.Equal(tpl.Functions[1].Environment, map[string]string{"TABLE": "by-name", "KEEP": "k"})                 // by FunctionName; undeclared not added
	_, err = ParseEnvVars([]byte(`{"F": {"A": [1]}}`))
	is.True(err != nil)
	_, err = ParseEnvVars([]byte(`{"F": "x"}`))
	is.True(strings.Contains(err.Error(), "sam local --env-vars"))
}

// A parameter without a value leaves an environment variable empty, as sam local does, but a path
// still needs it.
func TestParseParameterWithoutValueInEnvironment(t *testing.T) {
	is := is.New(t)
	const src = `
Parameters:
  Phone: {Type: String}
Resources:
  F:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Handler: h
      Runtime: python3.12
      AutoPublishAlias: live
      Environment: {Variables: {PHONE: !Ref Phone, ALIAS: !Ref FAliaslive}}
`
	tpl, err := Parse([]byte(src), dir, Options{})
	is.NoErr(err)
	is.Equal(tpl.Functions[0].Environment, map[string]string{"PHONE": "", "ALIAS": "arn:aws:lambda:us-east-1:123456789012:function:F:live"})
	is.True(strings.Contains(tpl.Warnings[0], "parameter Phone (no value)"))
	is.True(strings.Contains(tpl.Warnings[0], "PARAMETER_OVERRIDES"))
}
