/**
 * The Discord twin's application commands and interactions (REST side; INTERACTION_CREATE is
 * dispatched by `DiscordTwin.slashCommand` and `DiscordTwin.clickButton`, whose payload
 * {@link buttonClickPayload} builds).
 *
 * Discord rules encoded:
 * - `PUT /applications/{app}/guilds/{guild}/commands` (and `/applications/{app}/commands`) is a
 *   bulk overwrite: the body array replaces the scope's commands; ids are assigned.
 * - `POST /interactions/{id}/{token}/callback` must come within 3 s of INTERACTION_CREATE and
 *   only once (else 404 code 10062 / 400 code 40060); type 4 posts the response message, type 5
 *   shows "thinking…" (message flag 128) until `PATCH /webhooks/{app}/{token}/messages/@original`
 *   (a deferral with flag 64 keeps the response ephemeral: the edit cannot change that);
 *   `POST /webhooks/{app}/{token}` adds a follow-up. `?with_response=true` returns the callback
 *   response object, else 204.
 * - A button click (interaction type 3, MESSAGE_COMPONENT) carries `data: {custom_id,
 *   component_type: 2}`, the whole `message` the button is on, and `member` (with `user`) in a
 *   guild or `user` in a DM. Besides 4/5 it may be answered with type 6 DEFERRED_UPDATE_MESSAGE
 *   (nothing shown; the message may be edited later) or type 7 UPDATE_MESSAGE (edits the
 *   message the button is on); 6 and 7 are for component interactions only (else 400 50035,
 *   twin choice of code). Webhook routes need no bot token (the interaction token is the
 *   credential).
 */
import type { Interaction, TwinRest } from './rest.js';
import { ApiError } from './rest.js';
import type { TwinChannel, TwinMessage, TwinUser, TwinWorld } from './state.js';

/** Adds the application-command, interaction-callback and webhook routes to `rest`. */
export function registerInteractionRoutes(rest: TwinRest, w: TwinWorld): void {
  rest.on('PUT', '/applications/:app/guilds/:g/commands', (p, b) => ({ status: 200, json: overwriteCommands(rest, w, p.app!, p.g!, b) }));
  rest.on('PUT', '/applications/:app/commands', (p, b) => ({ status: 200, json: overwriteCommands(rest, w, p.app!, 'global', b) }));
  rest.on('GET', '/applications/:app/guilds/:g/commands', (p) => ({ status: 200, json: rest.commands.get(p.g!) ?? [] }));
  rest.on('POST', '/interactions/:id/:token/callback', (p, b, q) => interactionCallback(rest, w, p.id!, p.token!, b, q.get('with_response') === 'true'));
  rest.on('PATCH', '/webhooks/:app/:token/messages/@original', (p, b) => {
    const i = interactionByToken(rest, w, p.app!, p.token!);
    const existing = i.originalMessageId ? w.findMessage(i.originalMessageId) : undefined;
    const m = existing ? rest.editBotMessage(existing, b) : rest.createBotMessage(i.channelId, b, { webhookId: w.applicationId, type: 20 });
    i.originalMessageId = m.id;
    m.flags &= ~128; // no longer "thinking"
    return { status: 200, json: w.apiMessage(m) };
  });
  rest.on('GET', '/webhooks/:app/:token/messages/@original', (p) => {
    const i = interactionByToken(rest, w, p.app!, p.token!);
    const m = i.originalMessageId ? w.findMessage(i.originalMessageId) : undefined;
    if (!m) throw new ApiError(404, { message: 'Unknown Message', code: 10008 });
    return { status: 200, json: w.apiMessage(m) };
  });
  rest.on('POST', '/webhooks/:app/:token', (p, b) => {
    const i = interactionByToken(rest, w, p.app!, p.token!);
    return { status: 200, json: w.apiMessage(rest.createBotMessage(i.channelId, b, { webhookId: w.applicationId })) };
  });
}

function overwriteCommands(rest: TwinRest, world: TwinWorld, app: string, scope: string, b: unknown): Array<Record<string, unknown>> {
  if (app !== world.applicationId) throw new ApiError(403, { message: 'Missing Access', code: 50001 });
  if (!Array.isArray(b)) throw new ApiError(400, { message: 'Invalid Form Body', code: 50035 });
  const out = (b as Array<Record<string, unknown>>).map((c) => ({
    id: world.nextId(),
    application_id: app,
    version: world.nextId(),
    type: 1,
    description: '',
    default_member_permissions: null,
    dm_permission: true,
    nsfw: false,
    ...c,
    ...(scope === 'global' ? {} : { guild_id: scope }),
  }));
  rest.commands.set(scope, out);
  return out;
}

function interactionCallback(
  rest: TwinRest,
  world: TwinWorld,
  id: string,
  token: string,
  b: Record<string, unknown>,
  withResponse: boolean,
): { status: number; json?: unknown } {
  const i = rest.interactions.get(id);
  if (!i || i.token !== token || Date.now() - i.createdAt > 3_000) throw new ApiError(404, { message: 'Unknown interaction', code: 10062 });
  if (i.responded) throw new ApiError(400, { message: 'Interaction has already been acknowledged.', code: 40060 });
  const type = Number(b.type);
  if ((type === 6 || type === 7) && i.kind !== 'component')
    throw new ApiError(400, { message: 'Invalid Form Body', code: 50035, errors: { type: { _errors: [{ code: 'INTERACTION_RESPONSE_TYPE_INVALID' }] } } });
  if (![4, 5, 6, 7].includes(type))
    throw new ApiError(400, { message: 'Invalid Form Body', code: 50035, errors: { type: { _errors: [{ code: 'BASE_TYPE_CHOICES' }] } } });
  i.responded = true;
  i.responseType = type;
  const data = (b.data ?? {}) as Record<string, unknown>;
  if (type === 7) {
    const m = i.messageId ? world.findMessage(i.messageId) : undefined;
    if (m) rest.editBotMessage(m, data);
  } else if (type === 4) i.originalMessageId = rest.createBotMessage(i.channelId, data, { webhookId: world.applicationId, type: 20 }).id;
  // A deferral fixes the response's visibility: flag 64 in its data makes the later edit ephemeral too.
  else if (type === 5)
    i.originalMessageId = rest.createBotMessage(
      i.channelId,
      { content: '' },
      { webhookId: world.applicationId, type: 20, flags: 128 | (Number(data.flags ?? 0) & 64) },
    ).id;
  if (!withResponse) return { status: 204 };
  const original = i.originalMessageId ? world.findMessage(i.originalMessageId) : undefined;
  return {
    status: 200,
    json: {
      interaction: {
        id: i.id,
        type: i.kind === 'component' ? 3 : 2,
        activity_instance_id: null,
        response_message_id: i.originalMessageId ?? null,
        response_message_loading: type === 5,
        response_message_ephemeral: ((original?.flags ?? 0) & 64) !== 0,
      },
      resource: { type, ...(original ? { message: world.apiMessage(original) } : {}) },
    },
  };
}

function interactionByToken(rest: TwinRest, world: TwinWorld, app: string, token: string): Interaction {
  if (app !== world.applicationId) throw new ApiError(404, { message: 'Unknown Webhook', code: 10015 });
  for (const i of rest.interactions.values()) if (i.token === token) return i;
  throw new ApiError(404, { message: 'Unknown Webhook', code: 10015 });
}

/**
 * The INTERACTION_CREATE payload of `user` clicking the button `customId` on message `m` in
 * `channel` (Discord API docs, "Interaction Object", type 3 MESSAGE_COMPONENT): `member` with
 * `user` in a guild channel or thread, `user` alone in a DM.
 */
export function buttonClickPayload(
  world: TwinWorld,
  i: { id: string; token: string },
  user: TwinUser,
  channel: TwinChannel,
  m: TwinMessage,
  customId: string,
): Record<string, unknown> {
  const inGuild = channel.kind !== 'dm';
  return {
    id: i.id,
    application_id: world.applicationId,
    type: 3,
    token: i.token,
    version: 1,
    data: { custom_id: customId, component_type: 2 },
    ...(inGuild ? { guild_id: world.guildId, member: { ...world.apiMember(user), permissions: '2248473465835073' } } : { user: world.apiUser(user) }),
    channel_id: channel.id,
    channel: world.apiChannel(channel),
    message: world.apiMessage(m),
    app_permissions: '2248473465835073',
    locale: 'en-US',
    ...(inGuild ? { guild_locale: 'en-US' } : {}),
    entitlements: [],
    authorizing_integration_owners: inGuild ? { '0': world.guildId } : { '1': user.id },
    context: inGuild ? 0 : 1,
  };
}

/** The `custom_id`s of the buttons on a message. */
export function buttonIds(m: TwinMessage): string[] {
  return (m.components ?? []).flatMap((row) => ((row as { components?: Array<{ custom_id?: string }> }).components ?? []).map((b) => b.custom_id ?? ''));
}
