// Package esspec checks elasticsearch.write's bulk wire format against Elastic's own Go
// client types (github.com/elastic/go-elasticsearch/v8/typedapi): the action lines it sends
// decode into types.OperationContainer, and it reads bulk answers built from
// bulk.Response. It holds tests only; it is a package of its own so that the component's
// tests do not compile typedapi/types (about 2000 files, a minute cold on 2 cores).
package esspec
