print("kumo-amqp-fuzzer: build with scripts/fuzz-amqp")
