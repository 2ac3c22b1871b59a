package consul

import "testing"

// BenchmarkDecodeRegistration decodes the body `tribune bench catalog
// -target http -op churn` sends to /v1/catalog/register.
func BenchmarkDecodeRegistration(b *testing.B) {
	body := []byte(`{"Node":"node-17","Address":"127.0.0.1","Service":{"ID":"svc-417-17","Service":"svc-417","Port":20417},"Check":{"CheckID":"service:svc-417-17","Name":"Service 'svc-417' check","Status":"passing","ServiceID":"svc-417-17"}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeRegistration(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeDeregistration decodes the body it sends to
// /v1/catalog/deregister.
func BenchmarkDecodeDeregistration(b *testing.B) {
	body := []byte(`{"Node":"node-17","ServiceID":"svc-417-17"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeDeregistration(body); err != nil {
			b.Fatal(err)
		}
	}
}
