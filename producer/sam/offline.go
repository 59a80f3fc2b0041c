package sam

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Offline values, as `sam local` gives them. A value that needs a deployed stack (a Ref to a
// resource, Fn::GetAtt, Fn::ImportValue, AWS::StackId) never fails a template: it resolves to a
// deterministic placeholder built from the resource's type and logical ID — physical names are
// logical IDs, ARNs follow AWS's format for the type — and the template lists every placeholder
// it used in one warning (Template.Warnings), so the user knows which values to override
// (ENV_VARS_FILE). Paths the build reads (CodeUri, ContentUri, Metadata) never take a
// placeholder: a made-up path would only fail later, less clearly.

// stackUUID is the fixed last part of the offline AWS::StackId.
const stackUUID = "00000000-0000-0000-0000-000000000000"

// arnFormats is how a resource type's ARN continues after arn:<partition>:<service>:<region>:<account>:
// ("%s" is the physical name); types not listed use the rule of arnOf.
var arnFormats = map[string]struct{ service, resource string }{
	"AWS::Serverless::Function":            {"lambda", "function:%s"},
	"AWS::Lambda::Function":                {"lambda", "function:%s"},
	"AWS::Serverless::LayerVersion":        {"lambda", "layer:%s:1"},
	"AWS::Lambda::LayerVersion":            {"lambda", "layer:%s:1"},
	"AWS::Lambda::Version":                 {"lambda", "function:%s:1"},
	"AWS::Lambda::Alias":                   {"lambda", "function:%s:live"},
	"AWS::Lambda::EventSourceMapping":      {"lambda", "event-source-mapping:%s"},
	"AWS::DynamoDB::Table":                 {"dynamodb", "table/%s"},
	"AWS::DynamoDB::GlobalTable":           {"dynamodb", "table/%s"},
	"AWS::Serverless::SimpleTable":         {"dynamodb", "table/%s"},
	"AWS::SQS::Queue":                      {"sqs", "%s"},
	"AWS::SNS::Topic":                      {"sns", "%s"},
	"AWS::S3::Bucket":                      {"s3", "%s"},
	"AWS::Serverless::StateMachine":        {"states", "stateMachine:%s"},
	"AWS::StepFunctions::StateMachine":     {"states", "stateMachine:%s"},
	"AWS::StepFunctions::Activity":         {"states", "activity:%s"},
	"AWS::Events::EventBus":                {"events", "event-bus/%s"},
	"AWS::Events::Rule":                    {"events", "rule/%s"},
	"AWS::Events::Archive":                 {"events", "archive/%s"},
	"AWS::Events::Connection":              {"events", "connection/%s"},
	"AWS::Events::ApiDestination":          {"events", "api-destination/%s"},
	"AWS::Kinesis::Stream":                 {"kinesis", "stream/%s"},
	"AWS::KinesisFirehose::DeliveryStream": {"firehose", "deliverystream/%s"},
	"AWS::SecretsManager::Secret":          {"secretsmanager", "secret:%s"},
	"AWS::IAM::Role":                       {"iam", "role/%s"},
	"AWS::IAM::ManagedPolicy":              {"iam", "policy/%s"},
	"AWS::IAM::User":                       {"iam", "user/%s"},
	"AWS::KMS::Key":                        {"kms", "key/%s"},
	"AWS::Logs::LogGroup":                  {"logs", "log-group:%s:*"},
	"AWS::Cognito::UserPool":               {"cognito-idp", "userpool/%s"},
	"AWS::SSM::Parameter":                  {"ssm", "parameter/%s"},
	"AWS::AppSync::GraphQLApi":             {"appsync", "apis/%s"},
	"AWS::Serverless::GraphQLApi":          {"appsync", "apis/%s"},
	"AWS::ECR::Repository":                 {"ecr", "repository/%s"},
	"AWS::EFS::FileSystem":                 {"elasticfilesystem", "file-system/%s"},
	"AWS::EFS::AccessPoint":                {"elasticfilesystem", "access-point/%s"},
	"AWS::Scheduler::ScheduleGroup":        {"scheduler", "schedule-group/%s"},
	"AWS::Scheduler::Schedule":             {"scheduler", "schedule/default/%s"},
	"AWS::CloudFormation::Stack":           {"cloudformation", "stack/%s/" + stackUUID},
	"AWS::Serverless::Application":         {"cloudformation", "stack/%s/" + stackUUID},
	"AWS::Serverless::Api":                 {"apigateway", "/restapis/%s"},
	"AWS::ApiGateway::RestApi":             {"apigateway", "/restapis/%s"},
	"AWS::Serverless::HttpApi":             {"apigateway", "/apis/%s"},
	"AWS::ApiGatewayV2::Api":               {"apigateway", "/apis/%s"},
	"AWS::MSK::Cluster":                    {"kafka", "cluster/%s/" + stackUUID},
	"AWS::AmazonMQ::Broker":                {"mq", "broker:%s:b-" + stackUUID},
	"AWS::RDS::DBCluster":                  {"rds", "cluster:%s"},
	"AWS::RDS::DBInstance":                 {"rds", "db:%s"},
	"AWS::Pipes::Pipe":                     {"pipes", "pipe/%s"},
	"AWS::Athena::WorkGroup":               {"athena", "workgroup/%s"},
	"AWS::Glue::Database":                  {"glue", "database/%s"},
	"AWS::CodeBuild::Project":              {"codebuild", "project/%s"},
}

// globalServices have no region in their ARNs; s3 has no account either.
var globalServices = map[string]bool{"iam": true, "s3": true, "cloudfront": true}

// refArn lists the types whose Ref is their ARN; refURL the SQS queue, whose Ref is its URL.
// Every other type's Ref is its physical name (here the logical ID).
var refArn = map[string]bool{
	"AWS::SNS::Topic": true, "AWS::Serverless::LayerVersion": true, "AWS::Lambda::LayerVersion": true,
	"AWS::IAM::ManagedPolicy": true, "AWS::Serverless::StateMachine": true, "AWS::StepFunctions::StateMachine": true,
	"AWS::StepFunctions::Activity": true, "AWS::SecretsManager::Secret": true, "AWS::Lambda::Version": true,
	"AWS::Lambda::Alias": true, "AWS::CloudFormation::Stack": true, "AWS::Serverless::Application": true,
	"AWS::MSK::Cluster": true, "AWS::AppSync::GraphQLApi": true, "AWS::Serverless::GraphQLApi": true,
}

// arnOf is the placeholder ARN of resource id of type typ.
func (r *resolver) arnOf(id, typ string) string {
	f, ok := arnFormats[typ]
	if !ok {
		// AWS::Service::Kind → arn:aws:service:region:account:kind/ID, the most common shape.
		parts := strings.Split(typ, "::")
		svc, kind := "unknown", "resource"
		if len(parts) == 3 {
			svc, kind = strings.ToLower(parts[1]), strings.ToLower(parts[2])
		}
		f.service, f.resource = svc, kind+"/%s"
	}
	// SAM's <Fn>.Alias and <Fn>.Version name the function's alias and version; the alias it
	// generates for AutoPublishAlias is <Fn>Alias<name>.
	id = strings.TrimSuffix(strings.TrimSuffix(id, ".Alias"), ".Version")
	if typ == "AWS::Lambda::Alias" {
		if i := strings.LastIndex(id, "Alias"); i > 0 && len(id) > i+len("Alias") && r.resources[id[:i]] == typeFunction {
			f.resource = "function:%s:" + id[i+len("Alias"):]
			id = id[:i]
		}
	}
	region, account := r.pseudo["AWS::Region"], r.pseudo["AWS::AccountId"]
	if globalServices[f.service] {
		region = ""
		if f.service == "s3" {
			account = ""
		}
	}
	if f.service == "apigateway" {
		account = ""
	}
	return fmt.Sprintf("arn:%s:%s:%s:%s:%s", r.pseudo["AWS::Partition"], f.service, region, account, fmt.Sprintf(f.resource, id))
}

// refPlaceholder is what Ref gives for a resource offline.
func (r *resolver) refPlaceholder(id, typ string) string {
	switch {
	case refArn[typ]:
		return r.arnOf(id, typ)
	case typ == "AWS::SQS::Queue":
		return r.queueURL(id)
	}
	return id
}

func (r *resolver) queueURL(id string) string {
	return fmt.Sprintf("https://sqs.%s.%s/%s/%s", r.pseudo["AWS::Region"], r.pseudo["AWS::URLSuffix"], r.pseudo["AWS::AccountId"], id)
}

// attPlaceholder is what Fn::GetAtt id.attr gives offline.
func (r *resolver) attPlaceholder(id, typ, attr string) string {
	region, suffix := r.pseudo["AWS::Region"], r.pseudo["AWS::URLSuffix"]
	switch attr {
	case "Arn":
		return r.arnOf(id, typ)
	case "StreamArn", "LatestStreamArn":
		return r.arnOf(id, typ) + "/stream/1970-01-01T00:00:00.000"
	case "QueueUrl":
		return r.queueURL(id)
	case "QueueName", "TopicName", "Name", "FunctionName", "TableName", "BucketName", "StateMachineName", "RoleId", "Id", "RestApiId", "ApiId", "KeyId":
		return id
	case "RootResourceId":
		return id + "Root"
	case "DomainName", "RegionalDomainName":
		if typ == "AWS::S3::Bucket" {
			return fmt.Sprintf("%s.s3.%s", strings.ToLower(id), suffix)
		}
	case "WebsiteURL":
		return fmt.Sprintf("http://%s.s3-website-%s.%s", strings.ToLower(id), region, suffix)
	case "ApiEndpoint":
		return fmt.Sprintf("https://%s.execute-api.%s.%s", id, region, suffix)
	case "GraphQLUrl":
		return fmt.Sprintf("https://%s.appsync-api.%s.%s/graphql", id, region, suffix)
	case "ProviderURL":
		return fmt.Sprintf("https://cognito-idp.%s.%s/%s", region, suffix, id)
	}
	switch {
	case strings.HasSuffix(attr, "Arn"):
		return r.arnOf(id, typ)
	case strings.HasSuffix(attr, "Name"):
		return id
	}
	// Endpoint.Address, Outputs.X and the rest: a value that says what it stands for.
	return id + "." + attr
}

// notePlaceholder records one deployed-stack value and what it was replaced with.
func (r *resolver) notePlaceholder(what, value string) {
	if r.placeholders == nil {
		r.placeholders = map[string]string{}
	}
	r.placeholders[what] = value
}

// placeholderWarning is the one warning a template gets for its placeholders; "" when none.
func (r *resolver) placeholderWarning() string {
	if len(r.placeholders) == 0 {
		return ""
	}
	keys := slices.Sorted(maps.Keys(r.placeholders))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%s", k, r.placeholders[k])
	}
	return fmt.Sprintf("%d value(s) need a deployed stack (or a parameter value) and got offline placeholders, as sam local gives them: %s; set real values in ENV_VARS_FILE (sam local --env-vars format) or PARAMETER_OVERRIDES",
		len(keys), strings.Join(parts, ", "))
}
