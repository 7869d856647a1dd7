# A static o365ingest binary (CGO_ENABLED=0: the SQLite driver is pure Go) on a
# distroless base. Build: docker build -t o365ingest .
# The version comes from the build info (the git revision of the copied checkout);
# --build-arg VERSION=v1.2.3 overrides it.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=""
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w ${VERSION:+-X main.version=$VERSION}" -o /out/o365ingest ./cmd/o365ingest \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/o365ingest /usr/local/bin/o365ingest
# The data volume (the SQLite file, archive_dir, the ingest-alert state) belongs to the
# image's user (nonroot, 65532), so a named volume mounted here is writable by it.
COPY --from=build --chown=65532:65532 /out/data /data
VOLUME /data
WORKDIR /data
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/o365ingest"]
CMD ["--help"]
