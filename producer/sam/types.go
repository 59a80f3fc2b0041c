// Package sam reads AWS SAM templates into what the embedded producer needs to build function
// images offline: functions (Zip or Image), their code, layers, runtimes and environment. It
// owns the template's meaning (intrinsics, Globals, parameters); it only reads, never builds or
// touches the engine.
package sam

import "fmt"

// Options controls how a template's parameters and pseudo-parameters resolve.
type Options struct {
	// ParameterOverrides win over Parameters defaults (PARAMETER_OVERRIDES, Key=Value,...).
	ParameterOverrides map[string]string
	// Pseudo-parameter values; empty ones get offline defaults (us-east-1, 123456789012, the
	// template's stem as stack name).
	Region    string
	AccountID string
	StackName string
	// EnvVars overrides environment variables as `sam local --env-vars` does (ENV_VARS_FILE):
	// "Parameters" applies to every function, a function's logical ID or FunctionName to that
	// function and wins. Only variables the template declares are overridden.
	EnvVars map[string]map[string]string
	// LayerMap maps published layer ARNs to local content (LAYER_MAP): an absolute directory or
	// .zip, keyed by the full ARN or the ARN without its version.
	LayerMap map[string]string
}

// Template is a parsed SAM template.
type Template struct {
	Path       string            // as given to ParseFile
	Dir        string            // absolute directory of the template; relative URIs resolve here
	Parameters map[string]string // resolved values: defaults, then overrides
	Functions  []Function        // sorted by LogicalID
	Layers     map[string]Layer  // AWS::Serverless::LayerVersion by logical ID
	// Tables (AWS::DynamoDB::Table, AWS::Serverless::SimpleTable) and Buckets (AWS::S3::Bucket)
	// are what the stack's provisioner creates; sorted by logical ID.
	Tables  []Resource
	Buckets []Resource
	// Warnings are things worth telling the user that did not stop the parse: the values that
	// need a deployed stack and got offline placeholders, listed in one warning.
	Warnings []string
}

// Package types of a function.
const (
	PackageZip   = "Zip"
	PackageImage = "Image"
)

// Code kinds of a Zip function's CodeUri.
const (
	CodeDir    = "dir"
	CodeZip    = "zip"
	CodeJar    = "jar"
	CodeFile   = "file" // a single file that is not an archive: the whole package
	CodeInline = "inline"
)

// Function is one AWS::Serverless::Function after Globals.Function were merged into it, or one
// AWS::Lambda::Function.
type Function struct {
	LogicalID   string
	Name        string // FunctionName resolved through !Ref/!Sub, else LogicalID
	PackageType string // PackageZip or PackageImage
	// Architecture is "x86_64" (default) or "arm64".
	Architecture string
	// Environment.Variables as strings; ${VAR} placeholders are kept literally.
	Environment map[string]string

	// Zip functions.
	CodeURI    string // absolute path (directory, .zip, .jar or one file); empty for inline code
	CodeKind   string // CodeDir, CodeZip, CodeJar, CodeFile or CodeInline
	InlineCode string
	Runtime    string
	Handler    string
	Layers     []Layer // resolved; Globals' layers first, as samtranslator merges lists
	// BuildMethod and BuildProperties are Metadata.BuildMethod/BuildProperties: how `sam build`
	// builds the code (esbuild, makefile, go1.x, rust-cargolambda, …); "" picks by runtime.
	BuildMethod     string
	BuildProperties map[string]any

	// Image functions: either built from Metadata, or a prebuilt ImageURI.
	ImageURI        string
	Dockerfile      string // Metadata.Dockerfile, relative to DockerContext
	DockerContext   string // absolute directory
	DockerTag       string
	DockerBuildArgs map[string]string
	// ImageConfig, which Lambda applies over the image's ENTRYPOINT, CMD and WORKDIR; nil/"" keep
	// the image's own.
	ImageEntryPoint       []string
	ImageCommand          []string
	ImageWorkingDirectory string

	// What the stack's runtime config says of the function (events.go).
	Timeout    int // seconds; 0 when the template does not set it
	MemorySize int // MB; 0 when the template does not set it
	// ReservedConcurrentExecutions and ProvisionedConcurrencyConfig's
	// ProvisionedConcurrentExecutions; nil when not set.
	ReservedConcurrency    *int
	ProvisionedConcurrency *int
	Routes                 []Route    // Api and HttpApi events, sorted by event name
	Schedules              []Schedule // Schedule and ScheduleV2 events, sorted by event name
}

// Route is an Api or HttpApi event: requests of Method on Path invoke the function.
type Route struct {
	Event  string // the event's name in Events
	Type   string // "Api" or "HttpApi"
	Path   string // "" for an HttpApi event without Path (the API's default route)
	Method string // as written ("get", "ANY"); "" for an HttpApi event without Method
}

// Schedule is a Schedule or ScheduleV2 event: Expression (rate(...) or cron(...)) invokes the
// function with Input (JSON text, "" for none).
type Schedule struct {
	Event      string
	Expression string
	Input      string
}

// Layer is one AWS::Serverless::LayerVersion whose content is local, or a published layer
// (ARN) that LAYER_MAP maps to local content.
type Layer struct {
	LogicalID          string // "" for a layer given by ARN
	ARN                string // the published layer's ARN; "" for a layer of the template
	Name               string // LayerName resolved, else LogicalID
	ContentURI         string // absolute path: a directory or a .zip
	CompatibleRuntimes []string
	// Metadata.BuildMethod (a runtime such as python3.12, or makefile), BuildProperties and
	// BuildArchitecture: a layer with a BuildMethod is built as `sam build` builds it.
	BuildMethod       string
	BuildProperties   map[string]any
	BuildArchitecture string
}

// ResourceError says which resource and property of a template cannot be used, and why.
type ResourceError struct {
	Resource string // logical ID ("Globals" for the Globals section, "" for the whole template)
	Property string // e.g. "CodeUri", "Metadata.Dockerfile"
	Reason   string
}

func (e *ResourceError) Error() string {
	switch {
	case e.Resource == "":
		return e.Reason
	case e.Property == "":
		return fmt.Sprintf("resource %s: %s", e.Resource, e.Reason)
	default:
		return fmt.Sprintf("resource %s property %s: %s", e.Resource, e.Property, e.Reason)
	}
}
