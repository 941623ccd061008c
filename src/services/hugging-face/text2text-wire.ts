// text2text-generation on the wire (the transformers pipeline behind Inference Endpoints and the serverless API): one
// request, one whole answer.
import type { GenerationRequest } from '../inference-service.js';
import { promptOf, type GenerationProtocol } from './generation-protocol.js';
import { parseGeneratedText, samplingParameters } from './text-generation-wire.js';

/** Where a text2text endpoint's requests go: its url, or the serverless API's page of its hosted model. */
export function text2textUrl(url: string | undefined, modelId: string | undefined, hfApiBase: string): string {
  return url ?? `${hfApiBase}/models/${modelId}`;
}

/**
 * `{"inputs","parameters"?}`: the pipeline has no stop sequences, so `stop` is not sent, nor a seed (an endpoint or
 * request with one is refused before it gets here: checkProtocolTaskSettings).
 */
export function text2textRequest(request: GenerationRequest): string {
  const parameters = samplingParameters(request);
  return JSON.stringify(
    Object.keys(parameters).length > 0
      ? { inputs: promptOf(request.messages), parameters }
      : { inputs: promptOf(request.messages) },
  );
}

/** The pipeline answers `[{"generated_text": …}]` and cannot stream: a stream of it is its one answer. */
export function text2textProtocol(url: string): GenerationProtocol {
  return {
    streams: false,
    urls: [url],
    request: (request) => ({ url, body: text2textRequest(request) }),
    parseAnswer: parseGeneratedText,
    readEvent: () => undefined,
  };
}
