// The services this build knows, by the name a PUT gives in `service`.
import { huggingFaceService } from './hugging-face/settings.js';
import type { InferenceService } from './types.js';

const SERVICES: ReadonlyMap<string, InferenceService> = new Map([[huggingFaceService.name, huggingFaceService]]);

export function findService(name: string): InferenceService | undefined {
  return SERVICES.get(name);
}
