# The streamer's container (target `runtime`, the default) and the merge/load Lambda image (target `lambda`).
#   docker build -t cdc-streamer .                      # the streamer: ENTRYPOINT cdc-streamer, CMD run
#   docker build --target lambda -t cdc-lake-lambda .   # cdc_lake.lambda_handlers.{merge,load_export},
#                                                       # cdc_streamer.lambda_handlers.record_position
# Both install the project's wheel and its dependencies only: no sources, no tests, no build tools (gcc stays in
# the build stage).
# tests/unit/test_container.py performs these install steps in a fresh virtual environment.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY cdc_streamer ./cdc_streamer
COPY cdc_lake ./cdc_lake
COPY firehose_transform ./firehose_transform
COPY cdc_demo ./cdc_demo
# gcc builds cdc_streamer._fastpath into the wheel (the image then runs the compiled hot path; without a compiler the
# wheel would be pure Python, and the streamer several times slower).
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
RUN python -m pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim AS runtime
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin cdc
COPY --from=build /wheels /wheels
RUN python -m pip install --no-cache-dir --no-index --find-links /wheels cdc-pipeline && rm -rf /wheels
USER 10001
ENV PYTHONUNBUFFERED=1 \
    CDC_LOG_FORMAT=json \
    CDC_METRICS_PORT=9100
EXPOSE 9100
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["cdc-streamer", "health"]
ENTRYPOINT ["cdc-streamer"]
CMD ["run"]

FROM public.ecr.aws/lambda/python:3.11 AS lambda
COPY --from=build /wheels /wheels
RUN python -m pip install --no-cache-dir --no-index --find-links /wheels cdc-pipeline && rm -rf /wheels
ENV CDC_LOG_FORMAT=json
CMD ["cdc_lake.lambda_handlers.merge"]
