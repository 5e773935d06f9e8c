"""The REST operations of Asterisk 22's ARI (apiVersion 10.0.0), as data.

One operation a line (an indented line continues the one above): ``METHOD PATH nickname PARAM...``.
Path parameters come from the template. The others are query parameters, written ``name``
(optional) or ``name!`` (required), with ``*`` when the parameter may be given several times
(comma-separated or repeated), and ``@`` for a body parameter. ``~ws`` marks the websocket upgrade.
The simulator uses this table when no Swagger directory is given;
``tests/ari_app/test_spec_conformance.py`` checks it against the Swagger files of Asterisk 22
operation by operation, so it cannot drift.
"""

from __future__ import annotations

OPERATIONS = """\
GET /applications list
GET /applications/{applicationName} get
POST /applications/{applicationName}/subscription subscribe eventSource!*
DELETE /applications/{applicationName}/subscription unsubscribe eventSource!*
PUT /applications/{applicationName}/eventFilter filter @filter
GET /asterisk/config/dynamic/{configClass}/{objectType}/{id} getObject
PUT /asterisk/config/dynamic/{configClass}/{objectType}/{id} updateObject @fields
DELETE /asterisk/config/dynamic/{configClass}/{objectType}/{id} deleteObject
GET /asterisk/info getInfo only*
GET /asterisk/ping ping
GET /asterisk/modules listModules
GET /asterisk/modules/{moduleName} getModule
POST /asterisk/modules/{moduleName} loadModule
DELETE /asterisk/modules/{moduleName} unloadModule
PUT /asterisk/modules/{moduleName} reloadModule
GET /asterisk/logging listLogChannels
POST /asterisk/logging/{logChannelName} addLog configuration!
DELETE /asterisk/logging/{logChannelName} deleteLog
PUT /asterisk/logging/{logChannelName}/rotate rotateLog
GET /asterisk/variable getGlobalVar variable!
POST /asterisk/variable setGlobalVar variable! value
GET /bridges list
POST /bridges create type bridgeId name @variables
POST /bridges/{bridgeId} createWithId type name @variables
GET /bridges/{bridgeId} get
DELETE /bridges/{bridgeId} destroy
GET /bridges/{bridgeId}/variable getBridgeVar variable!
POST /bridges/{bridgeId}/variable setBridgeVar variable! value report_events
GET /bridges/{bridgeId}/variables getBridgeVars variables!*
POST /bridges/{bridgeId}/variables setBridgeVars @variables!
POST /bridges/{bridgeId}/addChannel addChannel channel!* role absorbDTMF mute
    inhibitConnectedLineUpdates
POST /bridges/{bridgeId}/removeChannel removeChannel channel!*
POST /bridges/{bridgeId}/videoSource/{channelId} setVideoSource
DELETE /bridges/{bridgeId}/videoSource clearVideoSource
POST /bridges/{bridgeId}/moh startMoh mohClass
DELETE /bridges/{bridgeId}/moh stopMoh
POST /bridges/{bridgeId}/play play media!* announcer_format lang offsetms skipms playbackId
POST /bridges/{bridgeId}/play/{playbackId} playWithId media!* announcer_format lang offsetms
    skipms
POST /bridges/{bridgeId}/record record name! format! recorder_format maxDurationSeconds
    maxSilenceSeconds ifExists beep terminateOn
GET /channels list
POST /channels originate endpoint! extension context priority label app appArgs callerId timeout
    @variables channelId otherChannelId originator formats
POST /channels/create create endpoint! app! appArgs channelId otherChannelId originator formats
    @variables
GET /channels/{channelId} get
POST /channels/{channelId} originateWithId endpoint! extension context priority label app
    appArgs callerId timeout @variables otherChannelId originator formats
DELETE /channels/{channelId} hangup reason_code reason
POST /channels/{channelId}/continue continueInDialplan context extension priority label
POST /channels/{channelId}/move move app! appArgs
POST /channels/{channelId}/redirect redirect endpoint!
POST /channels/{channelId}/answer answer
POST /channels/{channelId}/ring ring
DELETE /channels/{channelId}/ring ringStop
POST /channels/{channelId}/progress progress
POST /channels/{channelId}/dtmf sendDTMF dtmf before between duration after
POST /channels/{channelId}/mute mute direction
DELETE /channels/{channelId}/mute unmute direction
POST /channels/{channelId}/hold hold
DELETE /channels/{channelId}/hold unhold
POST /channels/{channelId}/moh startMoh mohClass
DELETE /channels/{channelId}/moh stopMoh
POST /channels/{channelId}/silence startSilence
DELETE /channels/{channelId}/silence stopSilence
POST /channels/{channelId}/play play media!* lang offsetms skipms playbackId
POST /channels/{channelId}/play/{playbackId} playWithId media!* lang offsetms skipms
POST /channels/{channelId}/record record name! format! maxDurationSeconds maxSilenceSeconds
    ifExists beep terminateOn
GET /channels/{channelId}/variable getChannelVar variable!
POST /channels/{channelId}/variable setChannelVar variable! value report_events
GET /channels/{channelId}/variables getChannelVars variables!*
POST /channels/{channelId}/variables setChannelVars @variables!
POST /channels/{channelId}/snoop snoopChannel spy whisper app! appArgs snoopId
POST /channels/{channelId}/snoop/{snoopId} snoopChannelWithId spy whisper app! appArgs
POST /channels/{channelId}/dial dial caller timeout
GET /channels/{channelId}/rtp_statistics rtpstatistics
POST /channels/externalMedia externalMedia channelId app! @variables external_host encapsulation
    transport connection_type format! direction data transport_data
POST /channels/{channelId}/transfer_progress transfer_progress states!
GET /deviceStates list
GET /deviceStates/{deviceName} get
PUT /deviceStates/{deviceName} update deviceState!
DELETE /deviceStates/{deviceName} delete
GET /endpoints list
PUT /endpoints/sendMessage sendMessage to! from! body @variables
POST /endpoints/refer refer to! from! refer_to! to_self @variables
GET /endpoints/{tech} listByTech
GET /endpoints/{tech}/{resource} get
PUT /endpoints/{tech}/{resource}/sendMessage sendMessageToEndpoint from! body @variables
POST /endpoints/{tech}/{resource}/refer referToEndpoint from! refer_to! to_self @variables
GET /events eventWebsocket app!* subscribeAll ~ws
POST /events/user/{eventName} userEvent application! source* @variables
POST /events/claim claimChannel channelId! application!
GET /mailboxes list
GET /mailboxes/{mailboxName} get
PUT /mailboxes/{mailboxName} update oldMessages! newMessages!
DELETE /mailboxes/{mailboxName} delete
GET /playbacks/{playbackId} get
DELETE /playbacks/{playbackId} stop
POST /playbacks/{playbackId}/control control operation!
GET /recordings/stored listStored
GET /recordings/stored/{recordingName} getStored
DELETE /recordings/stored/{recordingName} deleteStored
GET /recordings/stored/{recordingName}/file getStoredFile
POST /recordings/stored/{recordingName}/copy copyStored destinationRecordingName!
GET /recordings/live/{recordingName} getLive
DELETE /recordings/live/{recordingName} cancel
POST /recordings/live/{recordingName}/stop stop
POST /recordings/live/{recordingName}/pause pause
DELETE /recordings/live/{recordingName}/pause unpause
POST /recordings/live/{recordingName}/mute mute
DELETE /recordings/live/{recordingName}/mute unmute
GET /sounds list lang format
GET /sounds/{soundId} get
"""
