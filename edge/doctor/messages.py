"""Every English template the self-test shows, for the kiosk's screen to translate.

A result's summary and remedy are one of these, filled from its params after
translation (`template.format_map(params)`), so the figures survive any language.
"""

from __future__ import annotations

# Any check.
CHECK_BROKE = "the check could not run: {problem}"
CHECK_BROKE_FIX = "run the test again; if it fails the same way, send the kiosk's log to support"
SIMULATED_FIX = (
    "this {check} is simulated (demo or tests): name the real device in [devices] {check}"
)
STILL_STARTING = "{check} still starting after {wait} s"
STILL_STARTING_FIX = "run the test again; if it stays so, restart the kiosk"
SELF_TEST_BUSY = "A self-test is already running."

CAMERA_SKIPPED = "no camera configured ([devices] camera)"
CAMERA_MISSING = "camera {device} cannot be opened: {problem}"
CAMERA_MISSING_FIX = (
    "check that {device} exists and is plugged in (ls /dev/video*), and that no other"
    " program uses it (stop borne kiosk, or test from the installer screen)"
)
CAMERA_NO_FRAMES = "camera {device} opened but sent no picture in {wait} s"
CAMERA_NO_FRAMES_FIX = "unplug the camera and plug it in again, on another USB port or cable"
CAMERA_NO_BARCODE = "no barcode read in {wait} s ({fps} frames a second, sharpness {sharpness})"
CAMERA_NO_BARCODE_FIX = "hold a product's barcode 15-25 cm from the camera"
CAMERA_BLURRED = "barcode read ({symbology}), but the picture is blurred (sharpness {sharpness})"
CAMERA_BLURRED_FIX = (
    "clean the lens and check its focus: sharpness {sharpness}, barcodes read well from 100"
)
CAMERA_SLOW = "barcode read ({symbology}), but only {fps} frames a second"
CAMERA_SLOW_FIX = "give the camera a USB port of its own and light the counter well"
CAMERA_OK = "{fps} frames a second, sharpness {sharpness}, barcode read ({symbology})"

NFC_SKIPPED = "no NFC reader configured ([devices] nfc)"
NFC_MISSING = "no NFC reader at {device}: {problem}"
NFC_MISSING_FIX = (
    "check the reader's USB cable (lsusb lists it) and the path in [devices] nfc; stop"
    " borne kiosk if it runs, or test from the installer screen"
)
NFC_NO_CARD = "reader ready, no card read in {wait} s"
NFC_NO_CARD_FIX = "tap any card flat on the reader and hold it there for a second"
NFC_OK = "card read (type {tag_type})"

BLE_SKIPPED = "no BLE adapter configured ([devices] ble)"
BLE_MISSING = "the BLE adapter cannot scan: {problem}"
BLE_MISSING_FIX = (
    "check that the adapter is on (bluetoothctl show; rfkill unblock bluetooth) and that"
    " the bluetooth service runs"
)
BLE_SILENT = "scanning, no advertisement heard in {wait} s"
BLE_SILENT_FIX = "hold a phone running the store app near the kiosk; check the adapter's antenna"
BLE_NO_APP = "{adverts} advertisements heard, none from the store app"
BLE_NO_APP_FIX = "to calibrate presence, hold a phone running the store app 1 m from the kiosk"
BLE_FEW = "{adverts} advertisements heard, only {samples} from the store app"
BLE_FEW_FIX = "hold the phone running the store app still, 1 m from the kiosk, for the whole test"
BLE_OK = "{adverts} advertisements heard; the store app at 1 m: {rssi} dBm (median of {samples})"
BLE_CALIBRATED = (
    "{adverts} advertisements heard; the store app at 1 m: {rssi} dBm (median of {samples}),"
    " saved as [presence] power_at_1m"
)
BLE_NOT_SAVED = "the store app at 1 m: {rssi} dBm, not saved: {problem}"
BLE_NOT_SAVED_FIX = "check that the configuration file can be written, then calibrate again"

DISPLAY_NONE = "no display connected"
DISPLAY_NONE_FIX = "check the display's cable and power (/sys/class/drm lists no connected output)"
DISPLAY_NO_TOUCH = "display {outputs}, no touch screen found"
DISPLAY_NO_TOUCH_FIX = "check the touch panel's USB cable: shoppers use the kiosk by touch"
DISPLAY_READY = "display {outputs}, touch screen {touch_devices}"
DISPLAY_NO_TOUCHES = "display {outputs}, touch screen {touch_devices}, no touch seen in {wait} s"
DISPLAY_TOUCHED = "display {outputs}, touch screen {touch_devices}, {touches} touches seen"
WINDOW_NO_TOUCHES = "window {width}x{height} turned {rotation}°, no touch seen in {wait} s"
WINDOW_TOUCHED = "window {width}x{height} turned {rotation}°, {touches} touches seen"
TOUCH_FIX = "touch the screen during the test; if touches are not seen, check the panel's cable"

BROKER_NONE = "no broker configured ([mqtt] host): events wait in the outbox"
BROKER_NONE_FIX = "enrol the kiosk (borne enrol), or set [mqtt] host"
BROKER_NO_ID = "this kiosk has no [device] device_id: the broker cannot know it"
BROKER_UNREACHABLE = "broker {address} unreachable: {cause}"
BROKER_REFUSED_FIX = (
    "nothing listens on {address}: check [mqtt] host and port, and that the broker runs"
)
BROKER_TIMEOUT_FIX = "no answer from {address}: check the network, the firewall and [mqtt] host"
BROKER_NAME_FIX = "{host} is not a known name: check [mqtt] host and the network's DNS"
BROKER_TLS_FIX = (
    "check [mqtt] ca_file, cert_file and key_file; re-enrol the kiosk if its certificate"
    " expired or was revoked"
)
BROKER_LOGIN_REFUSED = "broker {address} refused this kiosk: {reason}"
BROKER_LOGIN_FIX = "the broker does not accept this kiosk's certificate or credentials: re-enrol it"
BROKER_OWN_REFUSED = "broker {address} refused a message on the kiosk's own topic ({reason})"
BROKER_OWN_FIX = (
    "the broker's ACL must let {device} write borne/v1/devices/{device}/#: check the hub's"
    " broker configuration (borne hub broker-config)"
)
BROKER_NO_ANSWER = "broker {address} did not acknowledge a message in {seconds} s"
BROKER_NO_ANSWER_FIX = "the broker is overloaded or the link drops: check the network"
BROKER_NOT_ISOLATED = "the broker's ACL does not isolate devices"
BROKER_NOT_ISOLATED_FIX = (
    "a kiosk can publish as another: write the broker's ACL again (borne hub broker-config)"
    " and reload the broker"
)
BROKER_PLAIN = "connected to {address} without TLS; own topic accepted"
BROKER_PLAIN_FIX = "the link is not encrypted: enrol the kiosk with a TLS broker ([mqtt] tls)"
BROKER_OK = "TLS to {address} ({tls_version}), own topic accepted, another device's refused"
CERTIFICATE_EXPIRED = "this kiosk's certificate expired on {not_after}"
CERTIFICATE_EXPIRING = (
    "TLS to {address} ({tls_version}), own topic accepted, another device's refused; this"
    " kiosk's certificate expires in {days} days, on {not_after}"
)
CERTIFICATE_FIX = (
    "re-enrol the kiosk: borne hub enrol-code --device {device} at the hub, then enrol with"
    " the code (installer panel or borne enrol)"
)

CLOCK_NO_HUB = "no hub to compare the clock with ([device] hub_url)"
CLOCK_OK = "clock within {skew} s of the hub's"
CLOCK_OFF = "clock {skew} s off the hub's"
CLOCK_OFF_FIX = (
    "turn on time synchronisation (timedatectl set-ntp true) and let it reach a time"
    " server: certificates and event times depend on the clock"
)
CLOCK_BEHIND_CERTIFICATES = (
    "clock {off} behind the hub's ({skew} s): certificates are refused as not valid yet"
)
CLOCK_AHEAD_CERTIFICATES = (
    "clock {off} ahead of the hub's ({skew} s): certificates are refused as expired"
)
CLOCK_CERTIFICATES_FIX = (
    "set the time (timedatectl set-time 'YYYY-MM-DD HH:MM:SS') and turn on time"
    " synchronisation (timedatectl set-ntp true): with this clock no certificate is accepted,"
    " not the hub's nor the broker's"
)
CLOCK_HUB_CERTIFICATE = (
    "clock within {skew} s of the hub's, but the hub's certificate is out of date: {cause}"
)
CLOCK_HUB_CERTIFICATE_FIX = (
    "restart borne hub serve at the hub: it makes its HTTPS certificate anew"
)
CLOCK_UNREACHABLE = "the clock was not checked: hub {url} unreachable ({cause})"
CLOCK_UNREACHABLE_FIX = "check [device] hub_url and the network; the hub's CA is [mqtt] ca_file"

DISK_OK = "{free} free for {folder}"
DISK_LOW = "only {free} free for {folder}"
DISK_LOW_FIX = "free some space: events and the catalog need room (1 GiB or more)"
DISK_UNUSABLE = "the storage folder cannot be used: {problem}"
DISK_UNUSABLE_FIX = "fix [storage] data_dir: a folder this user can write"

OUTBOX_EMPTY = "no event waiting; {delivered} delivered in total"
OUTBOX_WAITING = "{queued} events waiting, the oldest for {age}"
OUTBOX_WAITING_FIX = "events leave once the broker accepts them: see the broker check"
OUTBOX_UNREADABLE = "the outbox cannot be read: {problem}"
OUTBOX_UNREADABLE_FIX = "check {path}: it must be a Borne outbox this user can read"
OUTBOX_DAMAGED = "the outbox file is damaged: {path}"
OUTBOX_DAMAGED_FIX = (
    "restart the kiosk: it moves the file aside, keeps every readable event and goes on"
)
OUTBOX_WAS_DAMAGED = "the outbox was damaged; its copy is {path}, {salvaged} events were salvaged"
OUTBOX_WAS_DAMAGED_FIX = "send that file to support if the disk or the power supply is in doubt"

CATALOG_NONE = "no catalog: the kiosk has no product to show"
CATALOG_NONE_STREAMS_FIX = (
    "the platform has not sent the catalog yet: check the broker, then watch borne catalog status"
)
CATALOG_NONE_FILE_FIX = "name the store's catalog file in [catalog] source, or enrol the kiosk"
CATALOG_SYNCED = "{products} products, synced with the platform {age} ago"
CATALOG_STALE = "{products} products, last synced with the platform {age} ago"
CATALOG_STALE_FIX = "the platform has not confirmed the catalog for a while: check the broker"
CATALOG_FILE = "{products} products from the catalog file, written {age} ago"
CATALOG_FILE_OLD_FIX = "update the catalog file named by [catalog] source"
CATALOG_NOT_LOADED = "catalog file found, not loaded yet: the kiosk loads it when it starts"
CATALOG_UNREADABLE = "the catalog cannot be read: {problem}"
CATALOG_UNREADABLE_FIX = "check the files in [storage] data_dir; borne catalog status tells more"

SCREEN_MESSAGES = tuple(
    value for name, value in sorted(globals().items()) if name.isupper() and isinstance(value, str)
)
