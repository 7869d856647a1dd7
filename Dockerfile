# A static o365ingest binary (CGO_ENABLED=0: the SQLite driver is pure Go) on a
# distroless base. Build: docker build -t o365ingest .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/o365ingest ./cmd/o365ingest

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/o365ingest /usr/local/bin/o365ingest
WORKDIR /data
ENTRYPOINT ["/usr/local/bin/o365ingest"]
CMD ["--help"]
