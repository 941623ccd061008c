// Every validation error of docs/api.md#errors and docs/chunking.md through HTTP, with its exact status, type and
// reason.
import t from 'tap';
import { API_KEY, envelope, hfBody, startApp } from '../helpers/app-harness.js';

const idReason = (id: string) =>
  `Validation Failed: 1: Invalid inference_id; '${id}' can contain lowercase alphanumeric (a-z and 0-9), hyphens or underscores; must start and end with alphanumeric;`;
const chunking = (settings: Record<string, unknown>) => hfBody({}, { chunking_settings: settings });

interface Case {
  name: string;
  url: string;
  body: unknown;
  status: number;
  type: string;
  reason: string;
}

const cases: Case[] = [
  // Path and id
  {
    name: 'unknown task type in the path',
    url: '/_inference/embedding/x',
    body: hfBody(),
    status: 400,
    type: 'status_exception',
    reason: 'Unknown task_type [embedding]',
  },
  {
    name: 'unknown task type in the body',
    url: '/_inference/x',
    body: hfBody({}, { task_type: 'embed' }),
    status: 400,
    type: 'status_exception',
    reason: 'Unknown task_type [embed]',
  },
  {
    name: 'uppercase id',
    url: '/_inference/text_embedding/MyModel',
    body: hfBody(),
    status: 400,
    type: 'action_request_validation_exception',
    reason: idReason('MyModel'),
  },
  {
    name: 'id ending in a hyphen',
    url: '/_inference/text_embedding/abc-',
    body: hfBody(),
    status: 400,
    type: 'action_request_validation_exception',
    reason: idReason('abc-'),
  },
  {
    name: 'id starting with an underscore',
    url: '/_inference/text_embedding/_x',
    body: hfBody(),
    status: 400,
    type: 'action_request_validation_exception',
    reason: idReason('_x'),
  },
  {
    name: 'reserved id _all',
    url: '/_inference/_all',
    body: hfBody({}, { task_type: 'text_embedding' }),
    status: 400,
    type: 'action_request_validation_exception',
    reason: idReason('_all'),
  },
  {
    name: 'id with a space',
    url: '/_inference/text_embedding/a%20b',
    body: hfBody(),
    status: 400,
    type: 'action_request_validation_exception',
    reason: idReason('a b'),
  },
  // Task type resolution
  {
    name: 'no task type anywhere',
    url: '/_inference/x',
    body: hfBody(),
    status: 400,
    type: 'status_exception',
    reason: 'model is missing required setting [task_type]',
  },
  {
    name: 'path and body disagree',
    url: '/_inference/text_embedding/x',
    body: hfBody({}, { task_type: 'completion' }),
    status: 400,
    type: 'status_exception',
    reason:
      'Cannot resolve conflicting task_type parameter in the request URL [text_embedding] and the request body [completion]',
  },
  // completion and chat_completion are served (test/http/completion.test.ts); their own refusals:
  ...(['completion', 'chat_completion'] as const).map((tt) => ({
    name: `task type ${tt} takes no chunking settings`,
    url: `/_inference/${tt}/x`,
    body: hfBody({}, { chunking_settings: { strategy: 'none' } }),
    status: 400,
    type: 'validation_exception',
    reason: `Validation Failed: 1: [chunking_settings] are not supported for task type [${tt}];`,
  })),
  // Service
  {
    name: 'missing service',
    url: '/_inference/text_embedding/x',
    body: { service_settings: { api_key: 'k', url: 'https://x' } },
    status: 400,
    type: 'status_exception',
    reason: 'Inference endpoint configuration is missing the [service] setting',
  },
  {
    name: 'unknown service',
    url: '/_inference/text_embedding/x',
    body: hfBody({}, { service: 'openai' }),
    status: 400,
    type: 'status_exception',
    reason: 'Unknown service [openai]',
  },
  {
    name: 'missing service_settings',
    url: '/_inference/text_embedding/x',
    body: { service: 'hugging_face' },
    status: 400,
    type: 'status_exception',
    reason: 'Missing required field [service_settings]',
  },
  {
    name: 'null service_settings',
    url: '/_inference/text_embedding/x',
    body: { service: 'hugging_face', service_settings: null },
    status: 400,
    type: 'status_exception',
    reason: 'Missing required field [service_settings]',
  },
  // Service settings
  {
    name: 'missing api_key',
    url: '/_inference/text_embedding/x',
    body: { service: 'hugging_face', service_settings: { url: 'https://x.example' } },
    status: 400,
    type: 'validation_exception',
    reason: 'Validation Failed: 1: [secret_settings] does not contain the required setting [api_key];',
  },
  {
    name: 'empty api_key',
    url: '/_inference/text_embedding/x',
    body: hfBody({ api_key: '' }),
    status: 400,
    type: 'validation_exception',
    reason: 'Validation Failed: 1: [secret_settings] Invalid value empty string. [api_key] must be a non-empty string;',
  },
  {
    // Too short to be masked if an upstream echoed it (a Hugging Face token has 37 characters); never quoted.
    name: 'api_key under 8 characters',
    url: '/_inference/text_embedding/x',
    body: hfBody({ api_key: 'hf_1234' }),
    status: 400,
    type: 'validation_exception',
    reason: 'Validation Failed: 1: [secret_settings] Invalid value: [api_key] must be at least 8 characters long;',
  },
  {
    // A header cannot carry it: refused here rather than failing every call; never quoted.
    name: 'api_key with a CR LF (a header injection)',
    url: '/_inference/text_embedding/x',
    body: hfBody({ api_key: 'hf_abcdefgh\r\nX-Evil: 1' }),
    status: 400,
    type: 'validation_exception',
    reason:
      'Validation Failed: 1: [secret_settings] Invalid value: [api_key] must hold only characters an HTTP header can carry (no control characters, none above U+00FF);',
  },
  {
    // A header cannot carry it: refused here rather than failing every call; never quoted.
    name: 'api_key with a NUL',
    url: '/_inference/text_embedding/x',
    body: hfBody({ api_key: 'hf_abcd\u0000efgh' }),
    status: 400,
    type: 'validation_exception',
    reason:
      'Validation Failed: 1: [secret_settings] Invalid value: [api_key] must hold only characters an HTTP header can carry (no control characters, none above U+00FF);',
  },
  {
    // A header cannot carry it: refused here rather than failing every call; never quoted.
    name: 'api_key with a tab',
    url: '/_inference/text_embedding/x',
    body: hfBody({ api_key: 'hf_abcd\tefgh' }),
    status: 400,
    type: 'validation_exception',
    reason:
      'Validation Failed: 1: [secret_settings] Invalid value: [api_key] must hold only characters an HTTP header can carry (no control characters, none above U+00FF);',
  },
  {
    // A header cannot carry it: refused here rather than failing every call; never quoted.
    name: 'api_key with a DEL',
    url: '/_inference/text_embedding/x',
    body: hfBody({ api_key: 'hf_abcd\u007fefgh' }),
    status: 400,
    type: 'validation_exception',
    reason:
      'Validation Failed: 1: [secret_settings] Invalid value: [api_key] must hold only characters an HTTP header can carry (no control characters, none above U+00FF);',
  },
  {
    // A header cannot carry it: refused here rather than failing every call; never quoted.
    name: 'api_key with a C1 control',
    url: '/_inference/text_embedding/x',
    body: hfBody({ api_key: 'hf_abcd\u0085efgh' }),
    status: 400,
    type: 'validation_exception',
    reason:
      'Validation Failed: 1: [secret_settings] Invalid value: [api_key] must hold only characters an HTTP header can carry (no control characters, none above U+00FF);',
  },
  {
    // A header cannot carry it: refused here rather than failing every call; never quoted.
    name: 'api_key with U+0100',
    url: '/_inference/text_embedding/x',
    body: hfBody({ api_key: 'hf_abcdefghĀ' }),
    status: 400,
    type: 'validation_exception',
    reason:
      'Validation Failed: 1: [secret_settings] Invalid value: [api_key] must hold only characters an HTTP header can carry (no control characters, none above U+00FF);',
  },
  {
    // A header cannot carry it: refused here rather than failing every call; never quoted.
    name: 'api_key with an emoji (astral)',
    url: '/_inference/text_embedding/x',
    body: hfBody({ api_key: 'hf_abcdefgh😀' }),
    status: 400,
    type: 'validation_exception',
    reason:
      'Validation Failed: 1: [secret_settings] Invalid value: [api_key] must hold only characters an HTTP header can carry (no control characters, none above U+00FF);',
  },
  {
    name: 'api_key short and with a LF: both rules',
    url: '/_inference/text_embedding/x',
    body: hfBody({ api_key: 'ab\ncd' }),
    status: 400,
    type: 'validation_exception',
    reason:
      'Validation Failed: 1: [secret_settings] Invalid value: [api_key] must be at least 8 characters long;' +
      '2: [secret_settings] Invalid value: [api_key] must hold only characters an HTTP header can carry (no control characters, none above U+00FF);',
  },
  {
    name: 'missing url without model_id',
    url: '/_inference/text_embedding/x',
    body: { service: 'hugging_face', service_settings: { api_key: API_KEY } },
    status: 400,
    type: 'validation_exception',
    reason: 'Validation Failed: 1: [service_settings] does not contain the required setting [url];',
  },
  {
    name: 'url that does not parse',
    url: '/_inference/text_embedding/x',
    body: hfBody({ url: 'not a url' }),
    status: 400,
    type: 'validation_exception',
    reason:
      'Validation Failed: 1: [service_settings] Invalid url [not a url] received for field [url]. Error: Invalid URL;',
  },
  {
    name: 'url with a scheme other than http(s)',
    url: '/_inference/text_embedding/x',
    body: hfBody({ url: 'ftp://models.example/x' }),
    status: 400,
    type: 'validation_exception',
    reason:
      'Validation Failed: 1: [service_settings] Invalid url [ftp://models.example/x] received for field [url]. Error: unsupported scheme [ftp]; the url must use http or https;',
  },
  {
    name: 'url with a password in it',
    url: '/_inference/text_embedding/x',
    body: hfBody({ url: 'https://user:s3cret@models.example/embed' }),
    status: 400,
    type: 'validation_exception',
    reason:
      'Validation Failed: 1: [service_settings] Invalid url [https://user:[REDACTED]@models.example/embed] received for field [url]. Error: credentials in the url are not allowed; put the token in [api_key];',
  },
  {
    name: 'url with a user name in it',
    url: '/_inference/text_embedding/x',
    body: hfBody({ url: 'https://user@models.example/embed' }),
    status: 400,
    type: 'validation_exception',
    reason:
      'Validation Failed: 1: [service_settings] Invalid url [https://[REDACTED]@models.example/embed] received for field [url]. Error: credentials in the url are not allowed; put the token in [api_key];',
  },
  {
    name: 'url with a token in its query string',
    url: '/_inference/text_embedding/x',
    body: hfBody({ url: 'https://models.example/embed?model=m&access_token=s3cretValue' }),
    status: 400,
    type: 'validation_exception',
    reason:
      'Validation Failed: 1: [service_settings] Invalid url [https://models.example/embed?model=m&access_token=[REDACTED]] received for field [url]. Error: credentials in the url are not allowed; put the token in [api_key];',
  },
  {
    name: 'url with a Hugging Face token in its path',
    url: '/_inference/text_embedding/x',
    body: hfBody({ url: 'https://models.example/hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123/embed' }),
    status: 400,
    type: 'validation_exception',
    reason:
      'Validation Failed: 1: [service_settings] Invalid url [https://models.example/[REDACTED]/embed] received for field [url]. Error: credentials in the url are not allowed; put the token in [api_key];',
  },
  {
    name: 'bad similarity',
    url: '/_inference/text_embedding/x',
    body: hfBody({ similarity: 'euclid' }),
    status: 400,
    type: 'validation_exception',
    reason:
      'Validation Failed: 1: [service_settings] Invalid value [euclid] received. [similarity] must be one of [cosine, dot_product, l2_norm];',
  },
  {
    name: 'requests_per_minute of 0',
    url: '/_inference/text_embedding/x',
    body: hfBody({ rate_limit: { requests_per_minute: 0 } }),
    status: 400,
    type: 'validation_exception',
    reason: 'Validation Failed: 1: [rate_limit] Invalid value [0]. [requests_per_minute] must be a positive long;',
  },
  {
    name: 'dimensions of 0',
    url: '/_inference/text_embedding/x',
    body: hfBody({ dimensions: 0 }),
    status: 400,
    type: 'validation_exception',
    reason: 'Validation Failed: 1: [service_settings] Invalid value [0]. [dimensions] must be a positive integer;',
  },
  // prefix_strings (ours, docs/api.md#input_type): keys are input types, values non-empty strings of ≤ 1024 characters.
  {
    name: 'prefix_strings: every problem of its entries',
    url: '/_inference/text_embedding/x',
    body: hfBody({
      prefix_strings: { query: 'query: ', search: 5, ingest: '', clustering: 'c'.repeat(1025) },
    }),
    status: 400,
    type: 'validation_exception',
    reason:
      'Validation Failed: 1: [service_settings] Invalid key [query] in [prefix_strings]: its keys are input types, one of [ingest, search, classification, clustering];' +
      '2: [service_settings] field [prefix_strings.search] is not of the expected type; it must be a string;' +
      '3: [service_settings] Invalid value empty string. [prefix_strings.ingest] must be a non-empty string;' +
      '4: [service_settings] Invalid value: [prefix_strings.clustering] holds 1025 characters; it takes at most 1024;',
  },
  {
    name: 'prefix_strings: one input type given twice',
    url: '/_inference/text_embedding/x',
    body: hfBody({ prefix_strings: { search: 'query: ', ' SEARCH': 'again: ' } }),
    status: 400,
    type: 'validation_exception',
    reason: 'Validation Failed: 1: [service_settings] [prefix_strings] names input type [search] more than once;',
  },
  {
    name: 'prefix_strings: not a map',
    url: '/_inference/text_embedding/x',
    body: hfBody({ prefix_strings: 'query: ' }),
    status: 400,
    type: 'validation_exception',
    reason:
      'Validation Failed: 1: [service_settings] field [prefix_strings] is not of the expected type; it must be an object;',
  },
  {
    name: 'prefix_strings: an internal input type is no key',
    url: '/_inference/text_embedding/x',
    body: hfBody({ prefix_strings: { internal_search: 'query: ' } }),
    status: 400,
    type: 'validation_exception',
    reason:
      'Validation Failed: 1: [service_settings] Invalid key [internal_search] in [prefix_strings]: its keys are input types, one of [ingest, search, classification, clustering];',
  },
  {
    name: 'prefix_strings: text_embedding only',
    url: '/_inference/sparse_embedding/x',
    body: hfBody({ prefix_strings: { search: 'query: ' } }),
    status: 400,
    type: 'status_exception',
    reason:
      'Model configuration contains settings [{prefix_strings={search=query: }}] unknown to the [hugging_face] service',
  },
  {
    name: 'model_id that is not a repository id',
    url: '/_inference/text_embedding/x',
    body: { service: 'hugging_face', service_settings: { api_key: API_KEY, model_id: '../../admin' } },
    status: 400,
    type: 'validation_exception',
    reason:
      'Validation Failed: 1: [service_settings] Invalid value [../../admin] received for field [model_id]. It must be a Hugging Face model id such as [sentence-transformers/all-MiniLM-L6-v2];',
  },
  {
    name: 'every problem at once, numbered',
    url: '/_inference/text_embedding/x',
    body: {
      service: 'hugging_face',
      service_settings: { url: 'nope', similarity: 'bad', rate_limit: { requests_per_minute: 0 } },
      chunking_settings: { strategy: 'word', max_chunk_size: 100, overlap: 60 },
    },
    status: 400,
    type: 'validation_exception',
    reason:
      'Validation Failed: 1: [service_settings] Invalid url [nope] received for field [url]. Error: Invalid URL;' +
      '2: [service_settings] Invalid value [bad] received. [similarity] must be one of [cosine, dot_product, l2_norm];' +
      '3: [rate_limit] Invalid value [0]. [requests_per_minute] must be a positive long;' +
      '4: [secret_settings] does not contain the required setting [api_key];' +
      '5: [chunking_settings] Invalid value [60.0]. [overlap] must be a less than or equal to [50.0];',
  },
  // Unknown keys
  {
    name: 'unknown key in service_settings',
    url: '/_inference/text_embedding/x',
    body: hfBody({ extra_key: 'value' }),
    status: 400,
    type: 'status_exception',
    reason: 'Model configuration contains settings [{extra_key=value}] unknown to the [hugging_face] service',
  },
  {
    name: 'unknown keys at the top level, rendered like a Java map',
    url: '/_inference/text_embedding/x',
    body: hfBody({}, { foo: 1, bar: { nested: [1, 'two'] } }),
    status: 400,
    type: 'status_exception',
    reason:
      'Model configuration contains settings [{foo=1, bar={nested=[1, two]}}] unknown to the [hugging_face] service',
  },
  {
    name: 'unknown key in task_settings',
    url: '/_inference/text_embedding/x',
    body: hfBody({}, { task_settings: { top_k: 3 } }),
    status: 400,
    type: 'status_exception',
    reason: 'Model configuration contains settings [{top_k=3}] unknown to the [hugging_face] service',
  },
  {
    name: 'unknown key in rate_limit',
    url: '/_inference/text_embedding/x',
    body: hfBody({ rate_limit: { requests_per_second: 5 } }),
    status: 400,
    type: 'status_exception',
    reason: 'Model configuration contains settings [{requests_per_second=5}] unknown to the [hugging_face] service',
  },
  {
    name: 'a misplaced api key is masked in the unknown-settings message',
    url: '/_inference/text_embedding/x',
    body: hfBody({}, { api_key: API_KEY, token: API_KEY, note: `uses ${API_KEY}` }),
    status: 400,
    type: 'status_exception',
    reason:
      'Model configuration contains settings [{api_key=[REDACTED], token=[REDACTED], note=uses [REDACTED]}] unknown to the [hugging_face] service',
  },
  // Chunking (§4)
  {
    name: 'unknown strategy',
    url: '/_inference/text_embedding/x',
    body: chunking({ strategy: 'paragraph' }),
    status: 400,
    type: 'validation_exception',
    reason: 'Validation Failed: 1: Invalid chunkingStrategy paragraph;',
  },
  {
    name: 'chunking without a strategy',
    url: '/_inference/text_embedding/x',
    body: chunking({ max_chunk_size: 100 }),
    status: 400,
    type: 'validation_exception',
    reason: 'Validation Failed: 1: [chunking_settings] does not contain the required setting [strategy];',
  },
  {
    name: 'word without overlap',
    url: '/_inference/text_embedding/x',
    body: chunking({ strategy: 'word', max_chunk_size: 100 }),
    status: 400,
    type: 'validation_exception',
    reason: 'Validation Failed: 1: [chunking_settings] does not contain the required setting [overlap];',
  },
  {
    name: 'word without max_chunk_size',
    url: '/_inference/text_embedding/x',
    body: chunking({ strategy: 'word', overlap: 1 }),
    status: 400,
    type: 'validation_exception',
    reason: 'Validation Failed: 1: [chunking_settings] does not contain the required setting [max_chunk_size];',
  },
  {
    name: 'word overlap above half the size',
    url: '/_inference/text_embedding/x',
    body: chunking({ strategy: 'word', max_chunk_size: 101, overlap: 51 }),
    status: 400,
    type: 'validation_exception',
    reason:
      'Validation Failed: 1: [chunking_settings] Invalid value [51.0]. [overlap] must be a less than or equal to [50.0];',
  },
  {
    name: 'word overlap of 0',
    url: '/_inference/text_embedding/x',
    body: chunking({ strategy: 'word', max_chunk_size: 100, overlap: 0 }),
    status: 400,
    type: 'validation_exception',
    reason: 'Validation Failed: 1: [chunking_settings] Invalid value [0]. [overlap] must be a positive integer;',
  },
  {
    name: 'word max_chunk_size below 10',
    url: '/_inference/text_embedding/x',
    body: chunking({ strategy: 'word', max_chunk_size: 9, overlap: 1 }),
    status: 400,
    type: 'validation_exception',
    reason:
      'Validation Failed: 1: [chunking_settings] Invalid value [9.0]. [max_chunk_size] must be a greater than or equal to [10.0];',
  },
  {
    name: 'max_chunk_size above 300',
    url: '/_inference/text_embedding/x',
    body: chunking({ strategy: 'word', max_chunk_size: 301, overlap: 1 }),
    status: 400,
    type: 'validation_exception',
    reason:
      'Validation Failed: 1: [chunking_settings] Invalid value [301.0]. [max_chunk_size] must be a less than or equal to [300.0];',
  },
  {
    name: 'word with sentence settings',
    url: '/_inference/text_embedding/x',
    body: chunking({ strategy: 'word', max_chunk_size: 100, overlap: 10, sentence_overlap: 1, x: 2 }),
    status: 400,
    type: 'validation_exception',
    reason:
      'Validation Failed: 1: Word based chunking settings can not have the following settings: [sentence_overlap, x];',
  },
  {
    name: 'sentence with word settings',
    url: '/_inference/text_embedding/x',
    body: chunking({ strategy: 'sentence', max_chunk_size: 100, overlap: 10 }),
    status: 400,
    type: 'validation_exception',
    reason: 'Validation Failed: 1: Sentence based chunking settings can not have the following settings: [overlap];',
  },
  {
    name: 'sentence_overlap of 2',
    url: '/_inference/text_embedding/x',
    body: chunking({ strategy: 'sentence', max_chunk_size: 100, sentence_overlap: 2 }),
    status: 400,
    type: 'validation_exception',
    reason: 'Validation Failed: 1: sentence_overlap[2] must be either 0 or 1;',
  },
  {
    name: 'sentence max_chunk_size below 20',
    url: '/_inference/text_embedding/x',
    body: chunking({ strategy: 'sentence', max_chunk_size: 19 }),
    status: 400,
    type: 'validation_exception',
    reason:
      'Validation Failed: 1: [chunking_settings] Invalid value [19.0]. [max_chunk_size] must be a greater than or equal to [20.0];',
  },
  {
    name: 'recursive with both separators and a group',
    url: '/_inference/text_embedding/x',
    body: chunking({ strategy: 'recursive', max_chunk_size: 50, separators: ['\n'], separator_group: 'markdown' }),
    status: 400,
    type: 'validation_exception',
    reason: 'Validation Failed: 1: Recursive chunking settings can not have both [separators] and [separator_group];',
  },
  {
    name: 'recursive with an empty separator list',
    url: '/_inference/text_embedding/x',
    body: chunking({ strategy: 'recursive', max_chunk_size: 50, separators: [] }),
    status: 400,
    type: 'validation_exception',
    reason: 'Validation Failed: 1: Recursive chunking settings can not have an empty list of separators;',
  },
  {
    name: 'recursive with an unknown group',
    url: '/_inference/text_embedding/x',
    body: chunking({ strategy: 'recursive', max_chunk_size: 50, separator_group: 'html' }),
    status: 400,
    type: 'validation_exception',
    reason: 'Validation Failed: 1: Invalid separator_group [html]; must be one of [plaintext, markdown];',
  },
  {
    name: 'recursive with a separator that is not a regular expression',
    url: '/_inference/text_embedding/x',
    body: chunking({ strategy: 'recursive', max_chunk_size: 50, separators: ['(unclosed'] }),
    status: 400,
    type: 'validation_exception',
    reason:
      'Validation Failed: 1: Invalid separator [(unclosed]: Invalid regular expression: /(unclosed/m: Unterminated group;',
  },
  {
    name: "docs/api.md's example",
    url: '/_inference/text_embedding/bad',
    body: { service: 'hugging_face', service_settings: { url: 'nope', rate_limit: { requests_per_minute: 0 } } },
    status: 400,
    type: 'validation_exception',
    reason:
      'Validation Failed: 1: [service_settings] Invalid url [nope] received for field [url]. Error: Invalid URL;2: [rate_limit] Invalid value [0]. [requests_per_minute] must be a positive long;3: [secret_settings] does not contain the required setting [api_key];',
  },
  {
    name: 'sentence max_chunk_size above 300',
    url: '/_inference/text_embedding/x',
    body: chunking({ strategy: 'sentence', max_chunk_size: 301 }),
    status: 400,
    type: 'validation_exception',
    reason:
      'Validation Failed: 1: [chunking_settings] Invalid value [301.0]. [max_chunk_size] must be a less than or equal to [300.0];',
  },
  {
    name: 'recursive max_chunk_size below 10',
    url: '/_inference/text_embedding/x',
    body: chunking({ strategy: 'recursive', max_chunk_size: 9 }),
    status: 400,
    type: 'validation_exception',
    reason:
      'Validation Failed: 1: [chunking_settings] Invalid value [9.0]. [max_chunk_size] must be a greater than or equal to [10.0];',
  },
  {
    name: 'recursive max_chunk_size above 300',
    url: '/_inference/text_embedding/x',
    body: chunking({ strategy: 'recursive', max_chunk_size: 301 }),
    status: 400,
    type: 'validation_exception',
    reason:
      'Validation Failed: 1: [chunking_settings] Invalid value [301.0]. [max_chunk_size] must be a less than or equal to [300.0];',
  },
  {
    name: 'none with a size',
    url: '/_inference/text_embedding/x',
    body: chunking({ strategy: 'none', max_chunk_size: 50 }),
    status: 400,
    type: 'validation_exception',
    reason: 'Validation Failed: 1: None chunking settings can not have the following settings: [max_chunk_size];',
  },
];

t.test('each invalid PUT answers its exact error and stores nothing', async (t) => {
  const s = await startApp(t);
  for (const c of cases) {
    const res = await s.request('PUT', c.url, c.body);
    t.equal(res.status, c.status, `${c.name}: status`);
    t.strictSame(res.json, envelope(c.status, c.type, c.reason), c.name);
    t.notMatch(res.body, API_KEY, `${c.name}: no api key in the answer`);
  }
  t.strictSame((await s.request('GET', '/_inference')).json, { endpoints: [] }, 'nothing was stored');
});

t.test('the valid edges of each rule are accepted', async (t) => {
  const s = await startApp(t);
  const ok = [
    chunking({ strategy: 'word', max_chunk_size: 10, overlap: 5 }),
    chunking({ strategy: 'word', max_chunk_size: 300, overlap: 1 }),
    chunking({ strategy: 'sentence', max_chunk_size: 20, sentence_overlap: 0 }),
    chunking({ strategy: 'SENTENCE', max_chunk_size: 20 }),
    chunking({ strategy: 'recursive', max_chunk_size: 10, separator_group: 'plaintext' }),
    hfBody({ rate_limit: { requests_per_minute: 1 } }),
    hfBody({ rate_limit: {} }),
    hfBody({ similarity: 'l2_norm', dimensions: 1, max_input_tokens: 1, url: 'http://127.0.0.1:8080/embed' }),
    hfBody({}, { task_settings: {}, chunking_settings: null }),
    chunking({ strategy: 'sentence', max_chunk_size: 300, sentence_overlap: 1 }),
    chunking({ strategy: 'recursive', max_chunk_size: 300, separator_group: 'markdown' }),
    // Every character a header can carry: printable ASCII, spaces inside, and Latin-1 up to U+00FF.
    hfBody({ api_key: 'clé secrète ~"\\ ÿ' }),
    hfBody({ prefix_strings: { search: 'q'.repeat(1024), ' Ingest ': ' ', clustering: null } }),
    hfBody({ prefix_strings: {} }),
  ];
  for (const [i, body] of ok.entries()) {
    const res = await s.request('PUT', `/_inference/text_embedding/ok-${i}`, body);
    t.equal(res.status, 200, JSON.stringify(body));
  }
  const stored = (await s.request('GET', '/_inference/ok-3')).json.endpoints[0];
  t.strictSame(
    stored.chunking_settings,
    { strategy: 'sentence', max_chunk_size: 20, sentence_overlap: 1 },
    'strategy names are case-insensitive and sentence_overlap defaults to 1',
  );
  t.strictSame((await s.request('GET', '/_inference/ok-6')).json.endpoints[0].service_settings.rate_limit, {
    requests_per_minute: 3000,
  });
});
