package sam

import (
	"maps"
	"slices"
)

// resourceTypes maps every logical ID a Ref or Fn::GetAtt may name to its type: the template's
// resources and those SAM generates from them (samtranslator), so a template that refers to
// <Fn>Role, <Fn>.Alias, <Fn>.Version, <Fn><EventId>, ServerlessRestApi or ServerlessHttpApi
// resolves offline like any other. A resource the template defines wins over a generated one.
func resourceTypes(resources map[string]any, globals map[string]any) map[string]string {
	types := map[string]string{}
	add := func(id, typ string) {
		if _, taken := types[id]; !taken {
			types[id] = typ
		}
	}
	for id, res := range resources {
		if m, ok := res.(map[string]any); ok {
			types[id], _ = m["Type"].(string)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(resources)) {
		m, _ := resources[id].(map[string]any)
		props, _ := m["Properties"].(map[string]any)
		switch types[id] {
		case typeFunction:
			add(id+"Role", "AWS::IAM::Role")
			add(id+".Alias", "AWS::Lambda::Alias")
			add(id+".Version", "AWS::Lambda::Version")
			add(id+"Url", "AWS::Lambda::Url")
			// AutoPublishAlias: live generates <Fn>Aliaslive.
			alias, ok := props["AutoPublishAlias"].(string)
			if !ok {
				alias, _ = globals["AutoPublishAlias"].(string)
			}
			if alias != "" {
				add(id+"Alias"+alias, "AWS::Lambda::Alias")
			}
			events, _ := props["Events"].(map[string]any)
			for _, ev := range slices.Sorted(maps.Keys(events)) {
				e, _ := events[ev].(map[string]any)
				t, _ := e["Type"].(string)
				add(id+ev, eventResourceType(t))
			}
		case "AWS::Serverless::StateMachine":
			add(id+"Role", "AWS::IAM::Role")
		case "AWS::Serverless::Api":
			add(id+".Stage", "AWS::ApiGateway::Stage")
			add(id+".Deployment", "AWS::ApiGateway::Deployment")
		case "AWS::Serverless::HttpApi":
			add(id+".Stage", "AWS::ApiGatewayV2::Stage")
		}
	}
	// The implicit APIs of Api and HttpApi events without RestApiId/ApiId.
	add("ServerlessRestApi", "AWS::ApiGateway::RestApi")
	add("ServerlessRestApiProdStage", "AWS::ApiGateway::Stage")
	add("ServerlessHttpApi", "AWS::ApiGatewayV2::Api")
	add("ServerlessHttpApiApiGatewayDefaultStage", "AWS::ApiGatewayV2::Stage")
	return types
}

// eventResourceType is the type of the resource samtranslator generates as <Fn><EventId> for an
// event source.
func eventResourceType(eventType string) string {
	switch eventType {
	case "Schedule", "CloudWatchEvent", "EventBridgeRule":
		return "AWS::Events::Rule"
	case "ScheduleV2":
		return "AWS::Scheduler::Schedule"
	case "SQS", "Kinesis", "DynamoDB", "MSK", "MQ", "SelfManagedKafka", "DocumentDB":
		return "AWS::Lambda::EventSourceMapping"
	case "SNS":
		return "AWS::SNS::Subscription"
	case "IoTRule":
		return "AWS::IoT::TopicRule"
	case "CloudWatchLogs":
		return "AWS::Logs::SubscriptionFilter"
	}
	return "AWS::Lambda::Permission" // S3, Api, HttpApi, Cognito, AlexaSkill and the rest
}
