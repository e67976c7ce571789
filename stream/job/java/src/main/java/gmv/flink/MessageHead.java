package gmv.flink;

import java.nio.charset.StandardCharsets;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * MESSAGE_HEAD(msg, max_bytes): the message itself when it has at most {@code max_bytes} bytes,
 * else its first {@code max_bytes} bytes, cut back to the start of a character. The job keeps
 * this much of a rejected message, so a rejected record always fits in a Kafka message.
 *
 * <p>Not SQL's SUBSTRING: Flink's walks characters by their first byte and, on a message whose
 * last character is cut short (invalid UTF-8, which the raw format lets through), copies past
 * the end of the message and fails the task. Here the bytes of a cut message are decoded as
 * UTF-8 with bad bytes as U+FFFD.
 */
public class MessageHead extends ScalarFunction {

    public @DataTypeHint(value = "STRING", bridgedTo = StringData.class) StringData eval(
            @DataTypeHint(value = "STRING", bridgedTo = StringData.class) StringData msg, Integer maxBytes) {
        if (msg == null || maxBytes == null) {
            return msg;
        }
        byte[] bytes = msg.toBytes();
        if (bytes.length <= maxBytes) {
            return msg;
        }
        int cut = Math.max(0, maxBytes);
        // back up over continuation bytes (10xxxxxx) to the first byte of the cut character
        for (int k = 0; k < 3 && cut > 0 && (bytes[cut] & 0xC0) == 0x80; k++) {
            cut--;
        }
        return StringData.fromString(new String(bytes, 0, cut, StandardCharsets.UTF_8));
    }
}
