from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SensorState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SENSOR_STATE_UNSPECIFIED: _ClassVar[SensorState]
    SENSOR_STATE_OK: _ClassVar[SensorState]
    SENSOR_STATE_DEGRADED: _ClassVar[SensorState]
    SENSOR_STATE_FAILED: _ClassVar[SensorState]

class Severity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEVERITY_UNSPECIFIED: _ClassVar[Severity]
    SEVERITY_INFORMATIONAL: _ClassVar[Severity]
    SEVERITY_LOW: _ClassVar[Severity]
    SEVERITY_MEDIUM: _ClassVar[Severity]
    SEVERITY_HIGH: _ClassVar[Severity]
    SEVERITY_CRITICAL: _ClassVar[Severity]

class FileAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FILE_ACTION_UNSPECIFIED: _ClassVar[FileAction]
    FILE_ACTION_CREATED: _ClassVar[FileAction]
    FILE_ACTION_MODIFIED: _ClassVar[FileAction]
    FILE_ACTION_DELETED: _ClassVar[FileAction]
    FILE_ACTION_MOVED: _ClassVar[FileAction]

class Verdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERDICT_UNSPECIFIED: _ClassVar[Verdict]
    VERDICT_CLEAN: _ClassVar[Verdict]
    VERDICT_SUSPICIOUS: _ClassVar[Verdict]
    VERDICT_MALICIOUS: _ClassVar[Verdict]
SENSOR_STATE_UNSPECIFIED: SensorState
SENSOR_STATE_OK: SensorState
SENSOR_STATE_DEGRADED: SensorState
SENSOR_STATE_FAILED: SensorState
SEVERITY_UNSPECIFIED: Severity
SEVERITY_INFORMATIONAL: Severity
SEVERITY_LOW: Severity
SEVERITY_MEDIUM: Severity
SEVERITY_HIGH: Severity
SEVERITY_CRITICAL: Severity
FILE_ACTION_UNSPECIFIED: FileAction
FILE_ACTION_CREATED: FileAction
FILE_ACTION_MODIFIED: FileAction
FILE_ACTION_DELETED: FileAction
FILE_ACTION_MOVED: FileAction
VERDICT_UNSPECIFIED: Verdict
VERDICT_CLEAN: Verdict
VERDICT_SUSPICIOUS: Verdict
VERDICT_MALICIOUS: Verdict

class EnrollRequest(_message.Message):
    __slots__ = ("token", "csr_pem", "hostname")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    CSR_PEM_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    token: str
    csr_pem: bytes
    hostname: str
    def __init__(self, token: _Optional[str] = ..., csr_pem: _Optional[bytes] = ..., hostname: _Optional[str] = ...) -> None: ...

class EnrollResponse(_message.Message):
    __slots__ = ("agent_id", "tenant", "certificate_pem", "ca_pem")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_PEM_FIELD_NUMBER: _ClassVar[int]
    CA_PEM_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    tenant: str
    certificate_pem: bytes
    ca_pem: bytes
    def __init__(self, agent_id: _Optional[str] = ..., tenant: _Optional[str] = ..., certificate_pem: _Optional[bytes] = ..., ca_pem: _Optional[bytes] = ...) -> None: ...

class AgentMessage(_message.Message):
    __slots__ = ("hello", "batch", "heartbeat", "command_result")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    COMMAND_RESULT_FIELD_NUMBER: _ClassVar[int]
    hello: Hello
    batch: EventBatch
    heartbeat: Heartbeat
    command_result: CommandResult
    def __init__(self, hello: _Optional[_Union[Hello, _Mapping]] = ..., batch: _Optional[_Union[EventBatch, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., command_result: _Optional[_Union[CommandResult, _Mapping]] = ...) -> None: ...

class CollectorMessage(_message.Message):
    __slots__ = ("welcome", "ack", "rule_bundle", "command")
    WELCOME_FIELD_NUMBER: _ClassVar[int]
    ACK_FIELD_NUMBER: _ClassVar[int]
    RULE_BUNDLE_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    welcome: Welcome
    ack: Ack
    rule_bundle: RuleBundle
    command: Command
    def __init__(self, welcome: _Optional[_Union[Welcome, _Mapping]] = ..., ack: _Optional[_Union[Ack, _Mapping]] = ..., rule_bundle: _Optional[_Union[RuleBundle, _Mapping]] = ..., command: _Optional[_Union[Command, _Mapping]] = ...) -> None: ...

class Hello(_message.Message):
    __slots__ = ("agent_id", "hostname", "agent_version", "rules_version", "last_sequence", "os")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    RULES_VERSION_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    OS_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    hostname: str
    agent_version: str
    rules_version: str
    last_sequence: int
    os: str
    def __init__(self, agent_id: _Optional[str] = ..., hostname: _Optional[str] = ..., agent_version: _Optional[str] = ..., rules_version: _Optional[str] = ..., last_sequence: _Optional[int] = ..., os: _Optional[str] = ...) -> None: ...

class Welcome(_message.Message):
    __slots__ = ("last_committed_sequence", "agent_id", "tenant", "server_time_ns")
    LAST_COMMITTED_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    SERVER_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    last_committed_sequence: int
    agent_id: str
    tenant: str
    server_time_ns: int
    def __init__(self, last_committed_sequence: _Optional[int] = ..., agent_id: _Optional[str] = ..., tenant: _Optional[str] = ..., server_time_ns: _Optional[int] = ...) -> None: ...

class EventBatch(_message.Message):
    __slots__ = ("sequence", "events")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    events: _containers.RepeatedCompositeFieldContainer[Event]
    def __init__(self, sequence: _Optional[int] = ..., events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ...) -> None: ...

class Ack(_message.Message):
    __slots__ = ("sequence",)
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    def __init__(self, sequence: _Optional[int] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("host_time_ns", "host_cpu_percent", "agent_cpu_percent", "agent_rss_bytes", "spool_events", "spool_bytes", "events_shed_total", "events_per_second", "rules_version", "exchange_build", "sensors")
    HOST_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    HOST_CPU_PERCENT_FIELD_NUMBER: _ClassVar[int]
    AGENT_CPU_PERCENT_FIELD_NUMBER: _ClassVar[int]
    AGENT_RSS_BYTES_FIELD_NUMBER: _ClassVar[int]
    SPOOL_EVENTS_FIELD_NUMBER: _ClassVar[int]
    SPOOL_BYTES_FIELD_NUMBER: _ClassVar[int]
    EVENTS_SHED_TOTAL_FIELD_NUMBER: _ClassVar[int]
    EVENTS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    RULES_VERSION_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_BUILD_FIELD_NUMBER: _ClassVar[int]
    SENSORS_FIELD_NUMBER: _ClassVar[int]
    host_time_ns: int
    host_cpu_percent: float
    agent_cpu_percent: float
    agent_rss_bytes: int
    spool_events: int
    spool_bytes: int
    events_shed_total: int
    events_per_second: float
    rules_version: str
    exchange_build: str
    sensors: _containers.RepeatedCompositeFieldContainer[SensorStatus]
    def __init__(self, host_time_ns: _Optional[int] = ..., host_cpu_percent: _Optional[float] = ..., agent_cpu_percent: _Optional[float] = ..., agent_rss_bytes: _Optional[int] = ..., spool_events: _Optional[int] = ..., spool_bytes: _Optional[int] = ..., events_shed_total: _Optional[int] = ..., events_per_second: _Optional[float] = ..., rules_version: _Optional[str] = ..., exchange_build: _Optional[str] = ..., sensors: _Optional[_Iterable[_Union[SensorStatus, _Mapping]]] = ...) -> None: ...

class SensorStatus(_message.Message):
    __slots__ = ("name", "state", "detail")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    name: str
    state: SensorState
    detail: str
    def __init__(self, name: _Optional[str] = ..., state: _Optional[_Union[SensorState, str]] = ..., detail: _Optional[str] = ...) -> None: ...

class Match(_message.Message):
    __slots__ = ("rule_id", "title", "severity", "tags", "engine")
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    rule_id: str
    title: str
    severity: Severity
    tags: _containers.RepeatedScalarFieldContainer[str]
    engine: str
    def __init__(self, rule_id: _Optional[str] = ..., title: _Optional[str] = ..., severity: _Optional[_Union[Severity, str]] = ..., tags: _Optional[_Iterable[str]] = ..., engine: _Optional[str] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("id", "host_time_ns", "matches", "retro", "file", "log", "process", "sensor", "action")
    ID_FIELD_NUMBER: _ClassVar[int]
    HOST_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    MATCHES_FIELD_NUMBER: _ClassVar[int]
    RETRO_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    LOG_FIELD_NUMBER: _ClassVar[int]
    PROCESS_FIELD_NUMBER: _ClassVar[int]
    SENSOR_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    id: str
    host_time_ns: int
    matches: _containers.RepeatedCompositeFieldContainer[Match]
    retro: bool
    file: FileEvent
    log: LogRecordEvent
    process: ProcessEvent
    sensor: SensorEvent
    action: ActionEvent
    def __init__(self, id: _Optional[str] = ..., host_time_ns: _Optional[int] = ..., matches: _Optional[_Iterable[_Union[Match, _Mapping]]] = ..., retro: _Optional[bool] = ..., file: _Optional[_Union[FileEvent, _Mapping]] = ..., log: _Optional[_Union[LogRecordEvent, _Mapping]] = ..., process: _Optional[_Union[ProcessEvent, _Mapping]] = ..., sensor: _Optional[_Union[SensorEvent, _Mapping]] = ..., action: _Optional[_Union[ActionEvent, _Mapping]] = ...) -> None: ...

class FileEvent(_message.Message):
    __slots__ = ("action", "path", "old_path", "root", "size", "sha256", "old_sha256", "mtime_ns", "verdict", "found_by_rescan", "root_kind")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    OLD_PATH_FIELD_NUMBER: _ClassVar[int]
    ROOT_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    OLD_SHA256_FIELD_NUMBER: _ClassVar[int]
    MTIME_NS_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    FOUND_BY_RESCAN_FIELD_NUMBER: _ClassVar[int]
    ROOT_KIND_FIELD_NUMBER: _ClassVar[int]
    action: FileAction
    path: str
    old_path: str
    root: str
    size: int
    sha256: str
    old_sha256: str
    mtime_ns: int
    verdict: Verdict
    found_by_rescan: bool
    root_kind: str
    def __init__(self, action: _Optional[_Union[FileAction, str]] = ..., path: _Optional[str] = ..., old_path: _Optional[str] = ..., root: _Optional[str] = ..., size: _Optional[int] = ..., sha256: _Optional[str] = ..., old_sha256: _Optional[str] = ..., mtime_ns: _Optional[int] = ..., verdict: _Optional[_Union[Verdict, str]] = ..., found_by_rescan: _Optional[bool] = ..., root_kind: _Optional[str] = ...) -> None: ...

class LogRecordEvent(_message.Message):
    __slots__ = ("source", "file", "line", "fields")
    class FieldsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    source: str
    file: str
    line: int
    fields: _containers.ScalarMap[str, str]
    def __init__(self, source: _Optional[str] = ..., file: _Optional[str] = ..., line: _Optional[int] = ..., fields: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ProcessEvent(_message.Message):
    __slots__ = ("pid", "name", "exe", "cmdline", "user", "start_time_ns", "ancestors")
    PID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    EXE_FIELD_NUMBER: _ClassVar[int]
    CMDLINE_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    START_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    ANCESTORS_FIELD_NUMBER: _ClassVar[int]
    pid: int
    name: str
    exe: str
    cmdline: str
    user: str
    start_time_ns: int
    ancestors: _containers.RepeatedCompositeFieldContainer[ProcessAncestor]
    def __init__(self, pid: _Optional[int] = ..., name: _Optional[str] = ..., exe: _Optional[str] = ..., cmdline: _Optional[str] = ..., user: _Optional[str] = ..., start_time_ns: _Optional[int] = ..., ancestors: _Optional[_Iterable[_Union[ProcessAncestor, _Mapping]]] = ...) -> None: ...

class ProcessAncestor(_message.Message):
    __slots__ = ("pid", "name", "cmdline")
    PID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CMDLINE_FIELD_NUMBER: _ClassVar[int]
    pid: int
    name: str
    cmdline: str
    def __init__(self, pid: _Optional[int] = ..., name: _Optional[str] = ..., cmdline: _Optional[str] = ...) -> None: ...

class SensorEvent(_message.Message):
    __slots__ = ("sensor", "state", "kind", "detail", "count")
    SENSOR_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    sensor: str
    state: SensorState
    kind: str
    detail: str
    count: int
    def __init__(self, sensor: _Optional[str] = ..., state: _Optional[_Union[SensorState, str]] = ..., kind: _Optional[str] = ..., detail: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class ActionEvent(_message.Message):
    __slots__ = ("command_id", "action", "path", "ok", "detail")
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    command_id: str
    action: str
    path: str
    ok: bool
    detail: str
    def __init__(self, command_id: _Optional[str] = ..., action: _Optional[str] = ..., path: _Optional[str] = ..., ok: _Optional[bool] = ..., detail: _Optional[str] = ...) -> None: ...

class RuleBundle(_message.Message):
    __slots__ = ("version", "files")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    version: str
    files: _containers.RepeatedCompositeFieldContainer[RuleFile]
    def __init__(self, version: _Optional[str] = ..., files: _Optional[_Iterable[_Union[RuleFile, _Mapping]]] = ...) -> None: ...

class RuleFile(_message.Message):
    __slots__ = ("path", "content")
    PATH_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    path: str
    content: bytes
    def __init__(self, path: _Optional[str] = ..., content: _Optional[bytes] = ...) -> None: ...

class Command(_message.Message):
    __slots__ = ("id", "quarantine", "restore", "rescan")
    ID_FIELD_NUMBER: _ClassVar[int]
    QUARANTINE_FIELD_NUMBER: _ClassVar[int]
    RESTORE_FIELD_NUMBER: _ClassVar[int]
    RESCAN_FIELD_NUMBER: _ClassVar[int]
    id: str
    quarantine: Quarantine
    restore: Restore
    rescan: Rescan
    def __init__(self, id: _Optional[str] = ..., quarantine: _Optional[_Union[Quarantine, _Mapping]] = ..., restore: _Optional[_Union[Restore, _Mapping]] = ..., rescan: _Optional[_Union[Rescan, _Mapping]] = ...) -> None: ...

class Quarantine(_message.Message):
    __slots__ = ("path",)
    PATH_FIELD_NUMBER: _ClassVar[int]
    path: str
    def __init__(self, path: _Optional[str] = ...) -> None: ...

class Restore(_message.Message):
    __slots__ = ("vault_id",)
    VAULT_ID_FIELD_NUMBER: _ClassVar[int]
    vault_id: str
    def __init__(self, vault_id: _Optional[str] = ...) -> None: ...

class Rescan(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CommandResult(_message.Message):
    __slots__ = ("command_id", "ok", "error", "detail")
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    command_id: str
    ok: bool
    error: str
    detail: str
    def __init__(self, command_id: _Optional[str] = ..., ok: _Optional[bool] = ..., error: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...
