package embedded

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/runtimeconfig"
	"github.com/dindbundler/dindbundler/producer/sam"
	"github.com/dindbundler/dindbundler/producer/sam/samtest"
)

// The runtime config a template plans, as the files say it: the template is parsed as the
// producer parses it, planned, and both files compared whole.
func TestRuntimeConfigPlan(t *testing.T) {
	const header = "AWSTemplateFormatVersion: '2010-09-09'\nTransform: AWS::Serverless-2016-10-31\n"
	cases := []struct {
		name      string
		template  string
		registry  string
		functions string
		routing   string
		warnings  []string
	}{
		{
			name: "a function without events: Lambda's timeout and memory, no route",
			template: `Resources:
  Worker:
    Type: AWS::Serverless::Function
    Properties: {Runtime: python3.12, Handler: app.handler, CodeUri: src}
`,
			functions: `defaults: {}
functions:
  Worker:
    image: esb-worker:latest
    timeout: 3
    memory_size: 128
`,
			routing: "routes: []\n",
		},
		{
			name:     "Globals merged as SAM merges them; placeholders kept; images under the registry",
			registry: "127.0.0.1:5010",
			template: `Globals:
  Function:
    Runtime: python3.12
    Handler: app.handler
    Timeout: 30
    MemorySize: 512
    Environment:
      Variables: {LOG_LEVEL: INFO, TABLE: "${TABLE_NAME}", PORT: 8000}
Resources:
  Orders:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: orders-api
      CodeUri: src
      Timeout: 10
      Environment:
        Variables: {LOG_LEVEL: DEBUG, ENDPOINT: "http://${DB_HOST}:8000", EMPTY: ""}
  Plain:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: src}
`,
			functions: `defaults: {}
functions:
  Plain:
    image: 127.0.0.1:5010/esb-plain:latest
    timeout: 30
    memory_size: 512
    environment:
      LOG_LEVEL: INFO
      PORT: "8000"
      TABLE: ${TABLE_NAME}
  orders-api:
    image: 127.0.0.1:5010/esb-orders-api:latest
    timeout: 10
    memory_size: 512
    environment:
      EMPTY: ""
      ENDPOINT: http://${DB_HOST}:8000
      LOG_LEVEL: DEBUG
      PORT: "8000"
      TABLE: ${TABLE_NAME}
`,
			routing: "routes: []\n",
		},
		{
			name: "scaling from reserved and provisioned concurrency; schedules, disabled ones left out",
			template: `Globals:
  Function: {Runtime: python3.12, Handler: app.handler, CodeUri: src}
Resources:
  Echo:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: lambda-echo
      ReservedConcurrentExecutions: 1
      ProvisionedConcurrencyConfig: {ProvisionedConcurrentExecutions: 1}
  Capped:
    Type: AWS::Serverless::Function
    Properties: {ReservedConcurrentExecutions: 3}
  Nightly:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Every:
          Type: Schedule
          Properties: {Schedule: rate(1 minute), Input: '{"scheduled": true}'}
        Cron:
          Type: ScheduleV2
          Properties: {ScheduleExpression: "cron(0 3 * * ? *)"}
        Off:
          Type: Schedule
          Properties: {Schedule: rate(5 minutes), Enabled: false}
        OffV2:
          Type: ScheduleV2
          Properties: {ScheduleExpression: rate(5 minutes), State: DISABLED}
        Queue:
          Type: SQS
          Properties: {Queue: arn:aws:sqs:us-east-1:123456789012:q}
`,
			functions: `defaults: {}
functions:
  Capped:
    image: esb-capped:latest
    timeout: 3
    memory_size: 128
    scaling:
      max_capacity: 3
  Nightly:
    image: esb-nightly:latest
    timeout: 3
    memory_size: 128
    events:
      - schedule:
          rate: cron(0 3 * * ? *)
      - schedule:
          rate: rate(1 minute)
          input: '{"scheduled": true}'
  lambda-echo:
    image: esb-lambda-echo:latest
    timeout: 3
    memory_size: 128
    scaling:
      max_capacity: 1
      min_capacity: 1
`,
			routing: "routes: []\n",
		},
		{
			name: "Api and HttpApi routes: path parameters, methods upper case, ANY spelled out, sorted",
			template: `Globals:
  Function: {Runtime: python3.12, Handler: app.handler, CodeUri: src}
Resources:
  Users:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: users
      Events:
        Get: {Type: Api, Properties: {Path: "/users/{id}", Method: get}}
        Me: {Type: Api, Properties: {Path: /users/me, Method: GET}}
        Create: {Type: Api, Properties: {Path: /users, Method: post}}
  Proxy:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        All: {Type: HttpApi, Properties: {Path: /proxy, Method: ANY}}
        Default: {Type: HttpApi}
        Greedy: {Type: HttpApi, Properties: {Path: "/files/{proxy+}", Method: get}}
`,
			functions: `defaults: {}
functions:
  Proxy:
    image: esb-proxy:latest
    timeout: 3
    memory_size: 128
  users:
    image: esb-users:latest
    timeout: 3
    memory_size: 128
`,
			routing: `routes:
  - path: /files/{proxy+}
    method: GET
    function: Proxy
  - path: /proxy
    method: DELETE
    function: Proxy
  - path: /proxy
    method: GET
    function: Proxy
  - path: /proxy
    method: HEAD
    function: Proxy
  - path: /proxy
    method: OPTIONS
    function: Proxy
  - path: /proxy
    method: PATCH
    function: Proxy
  - path: /proxy
    method: POST
    function: Proxy
  - path: /proxy
    method: PUT
    function: Proxy
  - path: /users
    method: POST
    function: users
  - path: /users/me
    method: GET
    function: users
  - path: /users/{id}
    method: GET
    function: users
`,
			warnings: []string{
				"function Proxy: the HttpApi event Default has no Path",
				"function Proxy: the HttpApi event Greedy has the greedy path /files/{proxy+}",
			},
		},
		{
			name: "values through intrinsics; an unusable one is a warning, not a failure",
			template: `Parameters:
  Stage: {Type: String, Default: prod}
  Seconds: {Type: Number, Default: 15}
Globals:
  Function: {Runtime: python3.12, Handler: app.handler, CodeUri: src}
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Timeout: !Ref Seconds
      MemorySize: lots
      Events:
        Api: {Type: Api, Properties: {Path: !Sub "/${Stage}/items", Method: put}}
        Broken: {Type: Api, Properties: {Path: /x}}
`,
			functions: `defaults: {}
functions:
  Fn:
    image: esb-fn:latest
    timeout: 15
    memory_size: 128
`,
			routing: `routes:
  - path: /prod/items
    method: PUT
    function: Fn
`,
			warnings: []string{
				`resource Fn property MemorySize: "lots" is not a whole number; left out of the runtime config`,
				"resource Fn property Events.Broken: an Api event needs Path and Method; left out of the runtime config",
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			tpl, err := sam.Parse([]byte(header+tc.template), "/proj", sam.Options{})
			is.NoErr(err)
			req := baseReq()
			req.ContainerRegistry = tc.registry
			p, err := Plan(tpl, nil, req)
			is.NoErr(err)
			functions, routing, err := runtimeconfig.Encode(p.Runtime)
			is.NoErr(err)
			is.Equal(string(functions), tc.functions)
			is.Equal(string(routing), tc.routing)
			warnings := strings.Join(p.Warnings, "\n")
			for _, w := range tc.warnings {
				if !strings.Contains(warnings, w) {
					t.Errorf("warnings %q lack %q", p.Warnings, w)
				}
			}
			if len(tc.warnings) == 0 {
				is.Equal(len(p.Warnings), 0)
			}
			// Planning twice gives the same bytes.
			again, err := Plan(tpl, nil, req)
			is.NoErr(err)
			f2, r2, err := runtimeconfig.Encode(again.Runtime)
			is.NoErr(err)
			is.Equal(f2, functions)
			is.Equal(r2, routing)
		})
	}
}

// The function image names follow CONTAINER_REGISTRY in the build plan as in the runtime config.
func TestFunctionImageNameUnderRegistry(t *testing.T) {
	is := is.New(t)
	req := baseReq()
	req.ContainerRegistry = "registry:5010"
	p, err := Plan(&sam.Template{Dir: "/proj", Functions: []sam.Function{pyFunc()}}, nil, req)
	is.NoErr(err)
	is.Equal(len(p.Images), 1)
	is.True(strings.HasPrefix(p.Images[0].Name, "registry:5010/esb-"))
	is.Equal(p.Runtime.Functions.Functions[pyFunc().Name].Image, p.Images[0].Name)
}

// writeRuntimeConfig leaves both files, and no temporary file, in the directory.
func TestWriteRuntimeConfig(t *testing.T) {
	is := is.New(t)
	dir := filepath.Join(t.TempDir(), "out", "dev", "config")
	c, _ := RuntimeConfig(&sam.Template{Functions: []sam.Function{{Name: "f", Routes: []sam.Route{{Type: "Api", Path: "/f", Method: "get"}}}}}, map[string]string{"f": "esb-f:latest"})
	is.NoErr(writeRuntimeConfig(dir, c, runtimeconfig.Resources{}))
	entries, err := os.ReadDir(dir)
	is.NoErr(err)
	is.Equal(len(entries), 2) // no resources: no resources.yml
	r := runtimeconfig.Resources{Resources: runtimeconfig.ResourceLists{S3: []map[string]any{{"BucketName": "b"}}}}
	is.NoErr(writeRuntimeConfig(dir, c, r))
	data, err := os.ReadFile(filepath.Join(dir, runtimeconfig.ResourcesFile))
	is.NoErr(err)
	is.Equal(string(data), "resources:\n  s3:\n    - BucketName: b\n")
	is.NoErr(writeRuntimeConfig(dir, c, runtimeconfig.Resources{})) // gone again: removed
	entries, err = os.ReadDir(dir)
	is.NoErr(err)
	is.Equal(len(entries), 2)
	data, err = os.ReadFile(filepath.Join(dir, runtimeconfig.RoutingFile))
	is.NoErr(err)
	is.Equal(string(data), "routes:\n  - path: /f\n    method: GET\n    function: f\n")
}

// ResourcesOf: DynamoDB tables (a SimpleTable as SAM expands it), S3 buckets and the template's
// layers, in the provisioner's shape, intrinsics resolved and names defaulted; a resource left
// under a false Condition is not listed.
func TestResourcesOf(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	is.NoErr(os.MkdirAll(filepath.Join(dir, "layer"), 0o755))
	tpl, err := sam.Parse([]byte(`Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage: {Type: String, Default: dev}
Conditions:
  Never: !Equals [a, b]
Resources:
  Orders:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "orders-${Stage}"
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
  Sessions:
    Type: AWS::Serverless::SimpleTable
    Properties:
      PrimaryKey: {Name: sid, Type: Number}
  Plain:
    Type: AWS::Serverless::SimpleTable
  Uploads:
    Type: AWS::S3::Bucket
    Properties:
      LifecycleConfiguration:
        Rules: [{Status: Enabled, Prefix: tmp/, ExpirationInDays: 1}]
  Skipped:
    Type: AWS::S3::Bucket
    Condition: Never
  Common:
    Type: AWS::Serverless::LayerVersion
    Properties:
      LayerName: common
      ContentUri: layer
      CompatibleRuntimes: [python3.12]
`), dir, sam.Options{})
	is.NoErr(err)
	data, err := runtimeconfig.EncodeResources(ResourcesOf(tpl))
	is.NoErr(err)
	is.Equal(string(data), `resources:
  dynamodb:
    - AttributeDefinitions:
        - AttributeName: id
          AttributeType: S
      BillingMode: PAY_PER_REQUEST
      KeySchema:
        - AttributeName: id
          KeyType: HASH
      TableName: Plain
    - AttributeDefinitions:
        - AttributeName: sid
          AttributeType: "N"
      BillingMode: PAY_PER_REQUEST
      KeySchema:
        - AttributeName: sid
          KeyType: HASH
      TableName: Sessions
    - AttributeDefinitions:
        - AttributeName: pk
          AttributeType: S
      BillingMode: PAY_PER_REQUEST
      KeySchema:
        - AttributeName: pk
          KeyType: HASH
      TableName: orders-dev
  s3:
    - BucketName: uploads
      LifecycleConfiguration:
        Rules:
          - ExpirationInDays: 1
            Prefix: tmp/
            Status: Enabled
  layers:
    - CompatibleRuntimes:
        - python3.12
      LayerName: common
`)
	is.True(ResourcesOf(&sam.Template{}).Empty())
}

// Every template of the SAM corpus that parses gets a runtime config that encodes and reads
// back, without a panic.
func TestRuntimeConfigCorpus(t *testing.T) {
	files := samtest.CorpusFiles(t)
	var templates, functions, routes, schedules int
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("read corpus template: %v", err)
		}
		tpl, err := sam.Parse(data, filepath.Dir(f), sam.Options{})
		if err != nil {
			continue // the parser's own corpus test covers its errors
		}
		name := filepath.Base(f)
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s: the runtime config panicked: %v", name, r)
				}
			}()
			images := map[string]string{}
			for _, fn := range tpl.Functions {
				images[fn.Name] = "esb-" + strings.ToLower(fn.Name) + ":latest"
			}
			c, _ := RuntimeConfig(tpl, images)
			fns, rts, err := runtimeconfig.Encode(c)
			if err != nil {
				t.Errorf("%s: encode: %v", name, err)
				return
			}
			back, err := runtimeconfig.DecodeFunctions(fns, name)
			if err == nil {
				_, err = runtimeconfig.DecodeRouting(rts, name)
			}
			if err != nil || len(back.Functions) != len(tpl.Functions) {
				t.Errorf("%s: read back %d of %d functions: %v", name, len(back.Functions), len(tpl.Functions), err)
			}
			templates++
			functions += len(c.Functions.Functions)
			routes += len(c.Routing.Routes)
			for _, fn := range c.Functions.Functions {
				schedules += len(fn.Events)
			}
		}()
	}
	t.Logf("corpus %s: %d templates parsed, %d functions, %d routes, %d schedules", samtest.CorpusDir(), templates, functions, routes, schedules)
	is := is.New(t)
	is.True(routes > 0 && schedules > 0) // the corpus exercises both
}
