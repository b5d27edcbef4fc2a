# Protobuf-c messages of the meta RPC: daemon/proto/*.proto are compiled by
# protoc-c into $(O)/gen (headers are GEN_HDRS, so every object waits for
# them) and archived as libzbsproto.a. Link with -lprotobuf-c.
PROTOS := $(wildcard daemon/proto/*.proto)
PROTO_C := $(patsubst daemon/proto/%.proto,$(O)/gen/%.pb-c.c,$(PROTOS))
PROTO_H := $(PROTO_C:.c=.h)
GEN_HDRS += $(PROTO_H)

$(O)/gen/%.pb-c.c $(O)/gen/%.pb-c.h: daemon/proto/%.proto
	@mkdir -p $(O)/gen
	protoc-c --c_out=$(O)/gen -Idaemon/proto $<

LIBS += zbsproto
zbsproto_SRCS := $(PROTO_C)
